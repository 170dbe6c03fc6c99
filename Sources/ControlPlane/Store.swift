import Foundation
import GRDB
import SQLEngine

/// The control plane's database: SQLite through GRDB (WAL, a `DatabasePool`), the embedded
/// default, or PostgreSQL (issue 22), behind one seam (`SQLDatabase`): one body of statements and
/// one set of migrations for both. Everything the control plane remembers lives here.
public final class Store: Sendable {
    public let db: any SQLDatabase
    /// The SQLite file (empty on PostgreSQL).
    public let path: String
    /// Recently authenticated agents (see `AgentAuthCache`).
    let authCache = AgentAuthCache()
    /// The PostgreSQL channel member changes that affect authentication are announced on.
    static let authChannel = "balctl_auth"
    /// Work for a member was committed (payload: the member ID): `WakeListener`.
    static let wakeChannel = "balctl_wake"

    /// The embedded default: a SQLite file.
    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // WAL + NORMAL: a commit is durable once the WAL is synced at checkpoint; a power
            // cut can lose the last transactions but never corrupts the database.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        self.path = path
        db = SQLiteEngine(pool: try DatabasePool(path: path, configuration: config))
        migratedAtOpen = try Self.migrator.migrateBlocking(db)
    }

    /// Any engine (PostgreSQL: `PostgresEngine(url:)`); migrates it before returning. Several
    /// replicas starting at once are safe: on PostgreSQL migrations run under an advisory lock,
    /// and each is applied once.
    public init(engine: any SQLDatabase) throws {
        db = engine
        path = (engine as? SQLiteEngine)?.pool.path ?? ""
        migratedAtOpen = try Self.migrator.migrateBlocking(db)
    }

    /// The migrations this process applied when it opened the store (usually none).
    public let migratedAtOpen: [String]
    /// Every migration this version knows, in order.
    public static var migrationIDs: [String] { migrator.migrations.map(\.identifier) }

    static var migrator: SQLMigrator {
        var m = SQLMigrator()
        m.register("v1: accounts, pools, members, heartbeats, jobs") { db in
            try db.executeScript(db.dialect.schema("""
                CREATE TABLE accounts(
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    is_admin INTEGER NOT NULL DEFAULT 0,
                    created_at REAL NOT NULL);
                CREATE TABLE api_tokens(
                    id INTEGER PRIMARY KEY,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    token_hash TEXT NOT NULL UNIQUE,
                    label TEXT,
                    created_at REAL NOT NULL);
                CREATE TABLE pools(
                    id INTEGER PRIMARY KEY,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    template TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    UNIQUE(account_id, name));
                CREATE TABLE members(
                    id INTEGER PRIMARY KEY,
                    pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    hostname TEXT NOT NULL,
                    allowed_ips TEXT NOT NULL,
                    family TEXT NOT NULL,
                    role TEXT NOT NULL,
                    secret_hash TEXT NOT NULL UNIQUE,
                    created_at REAL NOT NULL,
                    secret_rotated_at REAL NOT NULL);
                CREATE INDEX members_pool ON members(pool_id);
                CREATE TABLE heartbeat_latest(
                    member_id INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
                    received_at REAL NOT NULL,
                    source_ip TEXT NOT NULL,
                    agent_version TEXT NOT NULL,
                    report TEXT NOT NULL,
                    history_at REAL NOT NULL DEFAULT 0);
                CREATE TABLE heartbeat_history(
                    id INTEGER PRIMARY KEY,
                    member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
                    received_at REAL NOT NULL,
                    source_ip TEXT NOT NULL,
                    report TEXT NOT NULL);
                CREATE INDEX heartbeat_history_member ON heartbeat_history(member_id, id);
                CREATE TABLE jobs(
                    id INTEGER PRIMARY KEY,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
                    member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
                    command TEXT NOT NULL,
                    params TEXT NOT NULL,
                    priority INTEGER NOT NULL,
                    max_attempts INTEGER NOT NULL,
                    timeout_sec INTEGER NOT NULL,
                    check_mode INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    cancel_requested INTEGER NOT NULL DEFAULT 0,
                    created_at REAL NOT NULL,
                    started_at REAL,
                    finished_at REAL,
                    lease_expires_at REAL,
                    exit_code INTEGER,
                    changed INTEGER,
                    error TEXT,
                    progress_message TEXT,
                    progress_percent REAL,
                    output TEXT,
                    result TEXT);
                CREATE INDEX jobs_claim ON jobs(member_id, state, priority DESC, id);
                CREATE INDEX jobs_lease ON jobs(state, lease_expires_at);
                CREATE INDEX jobs_pool ON jobs(pool_id, id);
                CREATE TABLE job_events(
                    id INTEGER PRIMARY KEY,
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    attempt INTEGER NOT NULL,
                    at REAL NOT NULL,
                    kind TEXT NOT NULL,
                    message TEXT);
                CREATE INDEX job_events_job ON job_events(job_id, id);
                CREATE TABLE audit_log(
                    id INTEGER PRIMARY KEY,
                    account_id INTEGER,
                    at REAL NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT NOT NULL,
                    detail TEXT);
                """))
        }
        m.register("v2: recipe runs and schedules") { db in
            try db.executeScript(db.dialect.schema("""
                CREATE TABLE recipe_runs(
                    id INTEGER PRIMARY KEY,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
                    recipe_id TEXT NOT NULL,
                    mode TEXT NOT NULL,
                    steps TEXT NOT NULL,
                    state TEXT NOT NULL,
                    current_step INTEGER NOT NULL DEFAULT 0,
                    failed_step INTEGER,
                    error TEXT,
                    created_at REAL NOT NULL,
                    finished_at REAL);
                CREATE INDEX recipe_runs_member ON recipe_runs(member_id, id);
                ALTER TABLE jobs ADD COLUMN recipe_run_id INTEGER REFERENCES recipe_runs(id) ON DELETE SET NULL;
                ALTER TABLE jobs ADD COLUMN recipe_step INTEGER;
                CREATE INDEX jobs_recipe_run ON jobs(recipe_run_id);
                CREATE TABLE schedules(
                    id INTEGER PRIMARY KEY,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    cron TEXT NOT NULL,
                    command TEXT,
                    recipe_id TEXT,
                    params TEXT NOT NULL,
                    enabled INTEGER NOT NULL,
                    missed TEXT NOT NULL,
                    next_run_at REAL,
                    last_run_at REAL,
                    last_job_id INTEGER,
                    last_recipe_run_id INTEGER,
                    last_error TEXT,
                    created_at REAL NOT NULL);
                CREATE INDEX schedules_due ON schedules(enabled, next_run_at);
                -- One row per (schedule, due time): the guarantee that a due time fires once, even
                -- with two schedulers or a restart at the boundary.
                CREATE TABLE schedule_fires(
                    schedule_id INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
                    due_at REAL NOT NULL,
                    fired_at REAL NOT NULL,
                    job_id INTEGER,
                    recipe_run_id INTEGER,
                    error TEXT,
                    PRIMARY KEY(schedule_id, due_at));
                """))
        }
        m.register("v3: heartbeat history sizes") { db in
            // issue 20 item 7: each sample's size, in an index beside (member_id, id), so the
            // per-member byte budget is summed without reading a report.
            try db.executeScript(db.dialect.schema("""
                ALTER TABLE heartbeat_history ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX heartbeat_history_bytes ON heartbeat_history(member_id, id, bytes);
                DROP INDEX heartbeat_history_member;
                """))
            // Samples stored before the cap: trim the oversized ones (drop those that do not even
            // have an envelope), then record every sample's size.
            let maxBytes = HeartbeatPolicy().historySampleMaxBytes
            let oversized = try Int64.fetchAll(db, sql: "SELECT id FROM heartbeat_history WHERE \(db.dialect.byteLength("report")) > ?",
                                               arguments: [maxBytes])
            for id in oversized {
                guard let raw = try String.fetchOne(db, sql: "SELECT report FROM heartbeat_history WHERE id = ?", arguments: [id]) else { continue }
                if let envelope = try? HeartbeatEnvelope.read(raw) {
                    try db.execute(sql: "UPDATE heartbeat_history SET report = ? WHERE id = ?",
                                   arguments: [HistorySample.make(raw, envelope: envelope, maxBytes: maxBytes), id])
                } else {
                    try db.execute(sql: "DELETE FROM heartbeat_history WHERE id = ?", arguments: [id])
                }
            }
            try db.execute(sql: "UPDATE heartbeat_history SET bytes = \(db.dialect.byteLength("report"))")
        }
        m.register("v4: job deadlines; which terminal states an agent reported") { db in
            // deadline_at: when a running attempt fails on the control plane's side (issue 20 item 5).
            // agent_reported: the terminal state came from the agent's completion, so a resend is a
            // repeat; otherwise the control plane ended the attempt and a completion is late (item 4).
            // Only agent completions ever stored output, which tells the two apart in old rows.
            try db.executeScript(db.dialect.schema("""
                ALTER TABLE jobs ADD COLUMN deadline_at REAL;
                ALTER TABLE jobs ADD COLUMN agent_reported INTEGER NOT NULL DEFAULT 0;
                UPDATE jobs SET agent_reported = 1 WHERE output IS NOT NULL;
                UPDATE jobs SET deadline_at = COALESCE(started_at, created_at) + timeout_sec + 60 WHERE state = 'running';
                CREATE INDEX jobs_deadline ON jobs(state, deadline_at);
                CREATE INDEX jobs_pending_age ON jobs(state, created_at);
                """))
        }
        m.register("v5: recipe run parameters") { db in
            // The resolved parameters of each run: a disable run defaults to those of the last
            // completed enable run (issue 21 item 7).
            try db.execute(sql: "ALTER TABLE recipe_runs ADD COLUMN params TEXT")
        }
        m.register("v6: failover, DNS providers, alerts") { db in
            // Issue 12. Secrets (TSIG keys, API tokens, webhook secrets) are stored sealed with the
            // data directory's key file (`SecretBox`), never in clear and never returned by the API.
            try db.executeScript(db.dialect.schema("""
                CREATE TABLE dns_providers(
                    id INTEGER PRIMARY KEY,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    settings TEXT NOT NULL,
                    secret BLOB NOT NULL,
                    created_at REAL NOT NULL,
                    UNIQUE(account_id, name));
                -- One row per pool that has failover settings; also the evaluator's state for the
                -- pool and its lease (one control plane decides and writes DNS for a pool at a time).
                CREATE TABLE pool_failover(
                    pool_id INTEGER PRIMARY KEY REFERENCES pools(id) ON DELETE CASCADE,
                    hostname TEXT,
                    provider_id INTEGER REFERENCES dns_providers(id) ON DELETE SET NULL,
                    ttl INTEGER NOT NULL DEFAULT 60,
                    proxied INTEGER NOT NULL DEFAULT 0,
                    auto_failover INTEGER NOT NULL DEFAULT 0,
                    delay_sec INTEGER NOT NULL DEFAULT 30,
                    min_spacing_sec INTEGER NOT NULL DEFAULT 300,
                    dynamic_dns INTEGER NOT NULL DEFAULT 0,
                    allow_private_ips INTEGER NOT NULL DEFAULT 0,
                    alert_emails TEXT NOT NULL DEFAULT '',
                    webhook_url TEXT,
                    webhook_secret BLOB,
                    active_member_id INTEGER REFERENCES members(id) ON DELETE SET NULL,
                    active_ip TEXT,
                    last_failover_at REAL,
                    -- The spacing guard counts automatic failovers only: a manual move is the
                    -- operator's call and must not hold back the next automatic one.
                    last_auto_failover_at REAL,
                    no_standby_alerted INTEGER NOT NULL DEFAULT 0,
                    -- An address whose DNS write failed: retried at pending_ip_at, backing off.
                    pending_ip TEXT,
                    pending_attempts INTEGER NOT NULL DEFAULT 0,
                    pending_ip_at REAL,
                    lease_owner TEXT,
                    lease_token INTEGER NOT NULL DEFAULT 0,
                    lease_expires_at REAL);
                -- What the evaluator reads of each heartbeat, kept beside the report at ingest so a
                -- tick never parses a report: the declared/probed public IPv4, how many heartbeats
                -- in a row carried it (dynamic DNS debounce), and whether and since when the
                -- haproxy stack reported itself inactive (NULL: no haproxy stack in the report).
                -- The table is rebuilt rather than altered so the report comes last: SQLite reads a
                -- row's columns in order, and a column stored after a report that spills onto
                -- overflow pages costs reading those pages (it was most of an evaluator tick).
                CREATE TABLE heartbeat_latest_v6(
                    member_id INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
                    received_at REAL NOT NULL,
                    source_ip TEXT NOT NULL,
                    agent_version TEXT NOT NULL,
                    history_at REAL NOT NULL DEFAULT 0,
                    public_ip TEXT,
                    public_ip_streak INTEGER NOT NULL DEFAULT 0,
                    haproxy_active INTEGER,
                    haproxy_inactive_since REAL,
                    report TEXT NOT NULL);
                INSERT INTO heartbeat_latest_v6(member_id, received_at, source_ip, agent_version, history_at, report)
                    SELECT member_id, received_at, source_ip, agent_version, history_at, report FROM heartbeat_latest;
                DROP TABLE heartbeat_latest;
                ALTER TABLE heartbeat_latest_v6 RENAME TO heartbeat_latest;
                ALTER TABLE members ADD COLUMN standby_priority INTEGER NOT NULL DEFAULT 100;
                ALTER TABLE members ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
                -- When the member's heartbeat-loss alert went out (NULL: none outstanding).
                ALTER TABLE members ADD COLUMN lost_alerted_at REAL;
                CREATE TABLE failover_events(
                    id INTEGER PRIMARY KEY,
                    pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
                    at REAL NOT NULL,
                    kind TEXT NOT NULL,
                    reason TEXT,
                    from_member_id INTEGER,
                    to_member_id INTEGER,
                    from_ip TEXT,
                    to_ip TEXT,
                    unhealthy_since REAL,
                    detected_at REAL,
                    dns_written_at REAL,
                    provider_reply TEXT,
                    verified INTEGER,
                    error TEXT,
                    fencing_token INTEGER,
                    decided_by TEXT,
                    detail TEXT);
                CREATE INDEX failover_events_pool ON failover_events(pool_id, id);
                -- Alerts are sent from this outbox by `AlertDispatcher`, never inline: a dead SMTP
                -- server must not delay a failover. pool_id NULL: a control-plane-wide alert.
                CREATE TABLE alert_outbox(
                    id INTEGER PRIMARY KEY,
                    pool_id INTEGER REFERENCES pools(id) ON DELETE CASCADE,
                    channel TEXT NOT NULL,
                    target TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    body TEXT NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending',
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at REAL NOT NULL,
                    claimed_until REAL,
                    last_error TEXT,
                    created_at REAL NOT NULL,
                    sent_at REAL);
                CREATE INDEX alert_outbox_due ON alert_outbox(state, next_attempt_at);
                -- Control-plane-wide evaluator state (the all-silent guard's outage marker).
                CREATE TABLE failover_global(
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    all_silent_since REAL);
                INSERT INTO failover_global(id) VALUES (1);
                """))
        }
        m.register("v7: failover snapshot generation") { db in
            // The evaluator keeps its snapshot of pools, members and heartbeat facts between
            // ticks and re-reads it only when `generation` moved; these triggers move it on every
            // change a tick reads, whoever makes it (this process, another control plane, SQL by
            // hand). Heartbeat times are not in it: a tick reads the members heard too long ago
            // through the received_at index instead, so a heartbeat costs no trigger work beyond
            // a comparison. The streak is counted up to 2 (all dynamic DNS needs), so it settles.
            try db.executeScript(db.dialect.schema("""
                ALTER TABLE failover_global ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX heartbeat_latest_received ON heartbeat_latest(received_at);
                UPDATE heartbeat_latest SET public_ip_streak = \(db.dialect.least("public_ip_streak", "2"));
                """))
            let d = db.dialect
            let factChanged = [("public_ip"), ("public_ip_streak"), ("haproxy_active"), ("haproxy_inactive_since")]
                .map { d.distinct("OLD.\($0)", "NEW.\($0)") }.joined(separator: " OR ")
            let triggers: [(name: String, event: String, table: String, when: String?)] = [
                ("pools_ins", "INSERT", "pools", nil), ("pools_del", "DELETE", "pools", nil),
                ("pools_upd", "UPDATE OF name, template", "pools", nil),
                ("pool_failover_ins", "INSERT", "pool_failover", nil), ("pool_failover_del", "DELETE", "pool_failover", nil),
                ("pool_failover_upd", "UPDATE", "pool_failover", nil),
                ("members_ins", "INSERT", "members", nil), ("members_del", "DELETE", "members", nil),
                ("members_upd", "UPDATE OF pool_id, hostname, standby_priority, maintenance, lost_alerted_at", "members", nil),
                ("heartbeat_ins", "INSERT", "heartbeat_latest", nil), ("heartbeat_del", "DELETE", "heartbeat_latest", nil),
                ("heartbeat_upd", "UPDATE OF public_ip, public_ip_streak, haproxy_active, haproxy_inactive_since",
                 "heartbeat_latest", factChanged),
            ]
            let bump = "UPDATE failover_global SET generation = generation + 1 WHERE id = 1"
            switch d {
            case .sqlite:
                for t in triggers {
                    try db.execute(sql: "CREATE TRIGGER failover_generation_\(t.name) AFTER \(t.event) ON \(t.table)"
                                   + (t.when.map { " WHEN \($0)" } ?? "") + " BEGIN \(bump); END")
                }
            case .postgres:
                try db.executeScript("""
                    CREATE FUNCTION failover_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN \(bump); RETURN NULL; END $$;
                    """)
                for t in triggers {
                    try db.execute(sql: "CREATE TRIGGER failover_generation_\(t.name) AFTER \(t.event) ON \(t.table) FOR EACH ROW"
                                   + (t.when.map { " WHEN (\($0))" } ?? "") + " EXECUTE FUNCTION failover_generation_bump()")
                }
            }
        }
        m.register("v8: leader lease; auth change notifications") { db in
            // One row: who runs the singletons and its fencing token (see `LeaderLease`). A
            // pool's failover lease remembers the leader token it was taken under, so a new
            // leader may take over a deposed leader's pool lease (see `FailoverExecutor.decide`).
            try db.executeScript(db.dialect.schema("""
                CREATE TABLE leader_lease(
                    name TEXT PRIMARY KEY,
                    holder TEXT,
                    token INTEGER NOT NULL,
                    expires_at REAL NOT NULL,
                    acquired_at REAL);
                INSERT INTO leader_lease(name, token, expires_at) VALUES ('singletons', 0, 0);
                ALTER TABLE pool_failover ADD COLUMN lease_leader_token INTEGER;
                CREATE TABLE server_settings(
                    name TEXT PRIMARY KEY,
                    value TEXT NOT NULL);
                """))
            if db.dialect == .postgres {
                // Every replica keeps an authentication cache; this tells all of them, at commit,
                // that a secret, the allowed addresses or a hostname changed or a member went
                // (pool deletions cascade here too), whoever made the change.
                try db.executeScript("""
                    CREATE FUNCTION balctl_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN PERFORM pg_notify('\(Store.authChannel)', ''); RETURN NULL; END $$;
                    CREATE TRIGGER members_auth_upd AFTER UPDATE OF secret_hash, allowed_ips, hostname ON members
                        FOR EACH STATEMENT EXECUTE FUNCTION balctl_auth_changed();
                    CREATE TRIGGER members_auth_del AFTER DELETE ON members
                        FOR EACH STATEMENT EXECUTE FUNCTION balctl_auth_changed();
                    """)
            }
        }
        m.register("v9: agent update events") { db in
            // Self-update events an agent reported, by its own id: a lost reply makes the agent
            // send one again, and it is recorded once (an indexed key, not a text comparison).
            try db.executeScript(db.dialect.schema("""
                CREATE TABLE agent_update_events(
                    member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
                    event_id TEXT NOT NULL,
                    received_at REAL NOT NULL,
                    PRIMARY KEY(member_id, event_id));
                """))
        }
        m.register("v10: backup snapshots") { db in
            // The catalog of snapshots; the bytes are in the snapshot store. A snapshot outlives
            // its member (a replacement VM is restored from it): member_id goes NULL, the store
            // key keeps the original member's ID (store_member_id) and the hostname is kept.
            try db.executeScript(db.dialect.schema("""
                CREATE TABLE snapshots(
                    id TEXT PRIMARY KEY,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    member_id INTEGER REFERENCES members(id) ON DELETE SET NULL,
                    store_member_id INTEGER NOT NULL,
                    member_hostname TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    state TEXT NOT NULL,
                    job_id INTEGER UNIQUE,
                    created_at REAL NOT NULL,
                    completed_at REAL,
                    bytes INTEGER NOT NULL DEFAULT 0,
                    source_bytes INTEGER NOT NULL DEFAULT 0,
                    entries INTEGER NOT NULL DEFAULT 0,
                    error TEXT);
                CREATE INDEX snapshots_member ON snapshots(member_id, state, created_at);
                CREATE INDEX snapshots_account ON snapshots(account_id, state);
                CREATE TABLE snapshot_parts(
                    snapshot_id TEXT NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    idx INTEGER NOT NULL,
                    size INTEGER NOT NULL,
                    sha256 TEXT NOT NULL,
                    PRIMARY KEY(snapshot_id, kind, idx));
                CREATE TABLE backup_policies(
                    member_id INTEGER NOT NULL UNIQUE REFERENCES members(id) ON DELETE CASCADE,
                    keep_last INTEGER,
                    keep_days INTEGER);
                CREATE TABLE backup_quotas(
                    account_id INTEGER NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE,
                    quota_bytes INTEGER);
                """))
        }
        m.register("v11: wake agents at commit") { db in
            // PostgreSQL tells every replica, at commit, which member has new work (a job
            // inserted, a cancel asked), so the agent parked on any replica beats at once.
            // SQLite is one process: a transaction observer does it (`SQLiteJobWakes`).
            guard db.dialect == .postgres else { return }
            try db.executeScript("""
                CREATE FUNCTION balctl_job_wake() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_notify('\(Store.wakeChannel)', NEW.member_id::text); RETURN NULL; END $$;
                CREATE TRIGGER jobs_wake_ins AFTER INSERT ON jobs
                    FOR EACH ROW EXECUTE FUNCTION balctl_job_wake();
                CREATE TRIGGER jobs_wake_cancel AFTER UPDATE OF cancel_requested ON jobs
                    FOR EACH ROW WHEN (NEW.cancel_requested <> OLD.cancel_requested) EXECUTE FUNCTION balctl_job_wake();
                """)
        }
        m.register("v12: member alert thresholds") { db in
            // Presets per pool, overrides per member (enabled = 0: the pool's preset is off for
            // that member), the state of each watched figure that is raised, and the history of
            // raises and clears (`balctl alerts list`). A state row exists only while raised, so
            // the evaluator's writes are the crossings, not every report.
            try db.executeScript(db.dialect.schema("""
                CREATE TABLE pool_thresholds(
                    pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
                    metric TEXT NOT NULL,
                    raise_at REAL NOT NULL,
                    clear_at REAL NOT NULL,
                    enabled INTEGER NOT NULL DEFAULT 1,
                    PRIMARY KEY(pool_id, metric));
                CREATE TABLE member_thresholds(
                    member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
                    metric TEXT NOT NULL,
                    raise_at REAL NOT NULL,
                    clear_at REAL NOT NULL,
                    enabled INTEGER NOT NULL DEFAULT 1,
                    PRIMARY KEY(member_id, metric));
                CREATE TABLE threshold_states(
                    member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
                    metric TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    raised_at REAL NOT NULL,
                    value REAL NOT NULL,
                    raise_at REAL NOT NULL,
                    clear_at REAL NOT NULL,
                    PRIMARY KEY(member_id, metric, subject));
                CREATE TABLE threshold_events(
                    id INTEGER PRIMARY KEY,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
                    metric TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    state TEXT NOT NULL,
                    value REAL NOT NULL,
                    raise_at REAL NOT NULL,
                    clear_at REAL NOT NULL,
                    at REAL NOT NULL);
                CREATE INDEX threshold_events_account ON threshold_events(account_id, id);
                """))
        }
        m.register("v13: web dashboard users and sessions") { db in
            // Issue 19. Passwords only as bcrypt; a session only as the SHA-256 of its token, so a
            // copy of the database signs nobody in.
            try db.executeScript(db.dialect.schema("""
                CREATE TABLE users(
                    id INTEGER PRIMARY KEY,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    username TEXT NOT NULL UNIQUE,
                    password_hash TEXT NOT NULL,
                    created_at REAL NOT NULL);
                CREATE TABLE web_sessions(
                    token_hash TEXT PRIMARY KEY,
                    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    csrf TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    expires_at REAL NOT NULL,
                    last_seen REAL NOT NULL);
                CREATE INDEX web_sessions_user ON web_sessions(user_id);
                CREATE TABLE member_geo(
                    member_id INTEGER NOT NULL PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
                    lat REAL NOT NULL,
                    lon REAL NOT NULL);
                """))
        }
        m.register("v14: snapshot part versions") { db in
            // Issue 14's red team: each upload of a part is stored under a name of its own and
            // the catalog says which one is the part, so a late PUT cannot overwrite bytes a
            // committed snapshot points at. '' is the bare name of parts stored before this.
            try db.execute(sql: "ALTER TABLE snapshot_parts ADD COLUMN version TEXT NOT NULL DEFAULT ''")
        }
        return m
    }
}

/// Unix seconds now.
public func now() -> Double { Date().timeIntervalSince1970 }
