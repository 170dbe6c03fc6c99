import AgentKernel
import Foundation
import HostPlugin

/// A directory of fake package tools (apt-get, dnf, needs-restarting). Each appends "name argv"
/// to `calls` and its whole environment (after a `## name argv` line) to `env`, then replays
/// the reply given for that exact argv — or, once a reply marked `installs` has run, the
/// `after` reply where one is given (so a simulation after the install lists less). An argv
/// without a reply exits 2.
struct PackageFakes {
    struct Reply {
        var output: String
        var code: Int = 0
        /// Running this reply marks the host as upgraded.
        var installs = false
        /// The reply once the host is upgraded.
        var after: (output: String, code: Int)?
    }

    let dir: String
    var tools: PackageTools

    init(_ programs: [String: [String: Reply]], root: String? = nil, kernel: String = "6.1.0-18-amd64") throws {
        dir = tempDir()
        var n = 0
        for (name, replies) in programs {
            var script = "#!/bin/sh\nd='\(dir)'\necho \"\(name) $*\" >> \"$d/calls\"\n"
            script += "{ echo \"## \(name) $*\"; /usr/bin/env | /usr/bin/sort; } >> \"$d/env\"\ncase \"$*\" in\n"
            for (args, reply) in replies {
                n += 1
                let file = dir + "/reply-\(n)"
                try reply.output.write(toFile: file, atomically: true, encoding: .utf8)
                script += "  \"\(args)\")\n"
                if let after = reply.after {
                    try after.output.write(toFile: file + ".after", atomically: true, encoding: .utf8)
                    script += "    if [ -e \"$d/upgraded\" ]; then /bin/cat '\(file).after'; exit \(after.code); fi\n"
                }
                if reply.installs { script += "    : > \"$d/upgraded\"\n" }
                script += "    /bin/cat '\(file)'; exit \(reply.code);;\n"
            }
            script += "esac\nexit 2\n"
            try script.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
            chmod(dir + "/" + name, 0o755)
        }
        let root = root ?? tempDir()
        tools = PackageTools(searchPath: [dir], root: root, runningKernel: { kernel })
    }

    var calls: String { (try? String(contentsOfFile: dir + "/calls", encoding: .utf8)) ?? "" }

    /// The environment the fake saw on the call `name argv` (KEY=VALUE lines, sorted).
    func environment(of call: String) -> [String] {
        let text = (try? String(contentsOfFile: dir + "/env", encoding: .utf8)) ?? ""
        var out: [String] = [], inBlock = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") { inBlock = line == "## " + call; continue }
            if inBlock && !line.isEmpty { out.append(String(line)) }
        }
        return out
    }
}
