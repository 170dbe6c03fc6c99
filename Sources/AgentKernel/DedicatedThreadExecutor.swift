#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A task executor with one OS thread of its own, for the heartbeat loop (issue 18): the loop
/// runs on it (`withTaskExecutorPreference`), builds the report, sends it with a blocking
/// libcurl call on this same thread and reads the reply, with no hop to another thread and back.
/// Each hop cost two thread wake-ups per heartbeat — more CPU than building the report. Blocking
/// here is what the thread is for: it never holds one of Swift's cooperative threads.
///
/// Only the loop's own task (and child tasks, which inherit the preference) run here; tasks it
/// starts with `Task {}` (jobs, the long poll, periodic work) do not inherit it and run on the
/// shared pool as before. Jobs run one at a time, in order.
///
/// The thread starts with the first job and ends once `stop()` was called and nothing is queued;
/// a job enqueued after that starts a thread again, so no task is ever stranded.
public final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    // All of these only with `lock` held.
    private var jobs: [UnownedJob] = []
    private var next = 0
    private var threadRunning = false
    private var stopped = false
    private var thread: pthread_t?

    /// Guards the state above; `wake` is what the idle thread waits on.
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        lock = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        wake = .allocate(capacity: 1)
        pthread_cond_init(wake, nil)
    }

    deinit {
        pthread_cond_destroy(wake); wake.deallocate()
        pthread_mutex_destroy(lock); lock.deallocate()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(lock)
        jobs.append(job)
        let start = !threadRunning
        if start { threadRunning = true } else { pthread_cond_signal(wake) }
        pthread_mutex_unlock(lock)
        if start { startThread() }
    }

    /// Lets the thread end once it has nothing left to run.
    public func stop() {
        pthread_mutex_lock(lock)
        stopped = true
        pthread_cond_signal(wake)
        pthread_mutex_unlock(lock)
    }

    /// True on this executor's thread (the heartbeat may then block it).
    public var isCurrentThread: Bool {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard let thread else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }

    /// A thread is running (or about to): for tests that check it ends after `stop()`.
    var hasThread: Bool {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return threadRunning
    }

    private func startThread() {
        let me = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let executor = Unmanaged<DedicatedThreadExecutor>.fromOpaque(arg!).takeRetainedValue()
            executor.runLoop()
            return nil
        }, me)
        if rc == 0 {
            pthread_detach(tid)
            return
        }
        // No thread to be had (the system is out of them): run what is queued on the shared
        // pool instead of stranding it. A TaskExecutor need not be serial; `isCurrentThread` is
        // false there, so the heartbeat does not block a shared thread.
        Unmanaged<DedicatedThreadExecutor>.fromOpaque(me).release()
        pthread_mutex_lock(lock)
        let queued = Array(jobs[next...])
        jobs.removeAll(); next = 0; threadRunning = false
        pthread_mutex_unlock(lock)
        let executor = asUnownedTaskExecutor()
        for job in queued {
            Task.detached { job.runSynchronously(on: executor) }
        }
    }

    private func runLoop() {
        pthread_mutex_lock(lock)
        thread = pthread_self()
        pthread_mutex_unlock(lock)
        let executor = asUnownedTaskExecutor()
        while let job = take() {
            job.runSynchronously(on: executor)
        }
    }

    /// The next job, waiting for one; nil once stopped with nothing queued — the thread is then
    /// marked gone under the same lock, so a later enqueue starts another.
    private func take() -> UnownedJob? {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while next == jobs.count {
            if stopped {
                threadRunning = false
                thread = nil
                return nil
            }
            pthread_cond_wait(wake, lock)
        }
        let job = jobs[next]
        next += 1
        if next == jobs.count { jobs.removeAll(keepingCapacity: true); next = 0 }
        return job
    }
}
