import AgentKernel
import BalctlProtocol
@testable import MariaDBPlugin
import Testing
import TestSupport

/// Red team of the MariaDB plugin (helper): each test reproduces a finding — it failed before
/// the fix named in its comment — or pins down what held. No server needed.
@Suite(.serialized)
struct RedTeamMariaDBTests {
    func config(_ php: String) -> WordPressConfig { WordPressConfig(bytes: Array(php.utf8)) }

    /// FM1: a heredoc/nowdoc body is a string, not code. A site owner's wp-config.php with a
    /// decoy define inside one (before the real define) made wordpress_sites name the decoy —
    /// the database a restore would be offered for this site. `php -r` agrees: the real one.
    @Test func defineInsideAHeredocIsNotADefine() {
        for open in ["<<<EOT", "<<< EOT", "<<<\"EOT\"", "<<<'EOT'"] {
            let c = config("""
                <?php
                $note = \(open)
                  define('DB_NAME', 'decoy'); it's a note
                  EOT;
                define( 'DB_NAME', 'real_db' );
                define( 'DB_USER', 'real_user' );
                $table_prefix = 'wp_';
                """)
            #expect(c.dbName == "real_db", "\(open)")
            #expect(c.dbUser == "real_user", "\(open)")
            #expect(c.tablePrefix == "wp_", "\(open)")
        }
        // `<<` is a shift, not a heredoc; an unterminated heredoc swallows the rest.
        #expect(config("<?php $a = 1 << 2; define('DB_NAME','x');").dbName == "x")
        #expect(config("<?php $a = <<<EOT\ndefine('DB_NAME','x');\n").dbName == nil)
    }

    /// FM2: text outside `<?php … ?>` is inline HTML, printed, never run. A define there (or
    /// after `?>`) was read as the site's.
    @Test func inlineHTMLIsNotCode() {
        #expect(config("define('DB_NAME','before_tag');\n<?php define('DB_NAME','real');").dbName == "real")
        #expect(config("<?php // x ?> define('DB_NAME','html');\n<?php define('DB_NAME','real');").dbName == "real")
        #expect(config("<?php $x = 1 ?>\n<p>define('DB_NAME', 'html')</p>\n<?php define('DB_NAME','real');").dbName == "real")
        #expect(config("<?= 1 ?><?php define('DB_NAME','real') ?>").dbName == "real")
        // `?>` inside a string or a block comment does not leave PHP.
        #expect(config("<?php $s = '?>'; /* ?> */ define('DB_NAME','real');").dbName == "real")
    }

    /// Held: the password never reaches the result, whatever wraps it, and the tokenizer over
    /// heredoc-heavy input stays within its bounds (every loop step advances).
    @Test func passwordNeverReadAndHeredocsBounded() {
        let secret = "S3cr3t-pw"
        for php in ["<?php define('DB_PASSWORD', '\(secret)'); define('DB_NAME', 'db');",
                    "<?php $d = <<<EOT\ndefine('DB_NAME', \nEOT;\ndefine('DB_PASSWORD', '\(secret)');",
                    "<?php define('DB_PASSWORD', /* 'x' */ '\(secret)');"] {
            let c = config(php)
            #expect(![c.dbName, c.dbUser, c.dbHost, c.tablePrefix].contains { $0?.contains(secret) == true })
        }
        let many = "<?php " + String(repeating: "<<<A\n<<<B\nA\n", count: 20_000)
        _ = config(many)
        let unterminated = "<?php " + String(repeating: "$x = <<<EOT\n", count: 20_000)
        _ = config(unterminated)
    }
}
