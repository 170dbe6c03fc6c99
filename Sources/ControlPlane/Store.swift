import Foundation
import GRDB

/// The control plane's database: SQLite through GRDB, WAL (a `DatabasePool`), versioned
/// migrations. Everything the control plane remembers lives here.
public final class Store: Sendable {
    public let db: DatabasePool
    public let path: String
    /// Recently authenticated agents (see `AgentAuthCache`).
    let authCache = AgentAuthCache()

    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // WAL + NORMAL: a commit is durable once the WAL is synced at checkpoint; a power
            // cut can lose the last transactions but never corrupts the database.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        self.path = path
        db = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(db)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: accounts, pools, members, heartbeats, jobs") { db in
            try db.execute(sql: """
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
                """)
        }
        m.registerMigration("v2: recipe runs and schedules") { db in
            try db.execute(sql: """
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
                """)
        }
        m.registerMigration("v3: heartbeat history sizes") { db in
            // issue 20 item 7: each sample's size, in an index beside (member_id, id), so the
            // per-member byte budget is summed without reading a report.
            try db.execute(sql: """
                ALTER TABLE heartbeat_history ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX heartbeat_history_bytes ON heartbeat_history(member_id, id, bytes);
                DROP INDEX heartbeat_history_member;
                """)
            // Samples stored before the cap: trim the oversized ones (drop those that do not even
            // have an envelope), then record every sample's size.
            let maxBytes = HeartbeatPolicy().historySampleMaxBytes
            let oversized = try Int64.fetchAll(db, sql: "SELECT id FROM heartbeat_history WHERE length(CAST(report AS BLOB)) > ?",
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
            try db.execute(sql: "UPDATE heartbeat_history SET bytes = length(CAST(report AS BLOB))")
        }
        m.registerMigration("v4: job deadlines; which terminal states an agent reported") { db in
            // deadline_at: when a running attempt fails on the control plane's side (issue 20 item 5).
            // agent_reported: the terminal state came from the agent's completion, so a resend is a
            // repeat; otherwise the control plane ended the attempt and a completion is late (item 4).
            // Only agent completions ever stored output, which tells the two apart in old rows.
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN deadline_at REAL;
                ALTER TABLE jobs ADD COLUMN agent_reported INTEGER NOT NULL DEFAULT 0;
                UPDATE jobs SET agent_reported = 1 WHERE output IS NOT NULL;
                UPDATE jobs SET deadline_at = COALESCE(started_at, created_at) + timeout_sec + 60 WHERE state = 'running';
                CREATE INDEX jobs_deadline ON jobs(state, deadline_at);
                CREATE INDEX jobs_pending_age ON jobs(state, created_at);
                """)
        }
        m.registerMigration("v5: recipe run parameters") { db in
            // The resolved parameters of each run: a disable run defaults to those of the last
            // completed enable run (issue 21 item 7).
            try db.execute(sql: "ALTER TABLE recipe_runs ADD COLUMN params TEXT")
        }
        return m
    }
}

/// Unix seconds now.
public func now() -> Double { Date().timeIntervalSince1970 }
