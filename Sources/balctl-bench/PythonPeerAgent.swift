/// The issue's yardstick for the agent's CPU per heartbeat (issue 18): a Python agent using
/// only the standard library, doing what ours does each beat — read /proc (uptime, loadavg,
/// stat, meminfo, mounts + statvfs), build the report, POST it over one kept-alive HTTPS
/// connection, read the reply — so both are measured against the same server in the same run.
enum PythonPeerAgent {
    static let script = #"""
import http.client, json, os, resource, ssl, sys, time
base, secret, hostname, cafile, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
host, port = base.split("//")[1].split(":")
ctx = ssl.create_default_context(cafile=cafile)
conn = http.client.HTTPSConnection(host, int(port), context=ctx)
prev = None
def cpu_percent():
    global prev
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle, total = parts[3] + parts[4], sum(parts)
    out = None
    if prev and total > prev[1]:
        out = round(100.0 * (1 - (idle - prev[0]) / (total - prev[1])), 1)
    prev = (idle, total)
    return out
def report():
    with open("/proc/uptime") as f: uptime = float(f.read().split()[0])
    with open("/proc/loadavg") as f: load = [float(x) for x in f.read().split()[:3]]
    mem = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1); mem[k] = int(v.split()[0]) * 1024
    disks = []
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype in ("ext4", "xfs", "btrfs", "overlay"):
                st = os.statvfs(mnt)
                disks.append({"mount": mnt, "fsType": fstype, "totalBytes": st.f_blocks * st.f_frsize,
                              "availableBytes": st.f_bavail * st.f_frsize})
    return {"hostname": hostname, "agentVersion": "0.0.0-python", "protocolVersion": 1,
            "os": {"family": "debian", "id": "debian", "versionID": "12", "prettyName": "Debian", "kernel": os.uname().release},
            "uptimeSec": uptime, "load": load, "cpuPercent": cpu_percent(), "cpuCount": os.cpu_count(),
            "memory": {"totalBytes": mem["MemTotal"], "availableBytes": mem["MemAvailable"]}, "disks": disks,
            "publicIPv4": None, "publicIPSource": None, "stacks": {}, "commands": ["host.echo"], "jobsInFlight": []}
headers = {"Authorization": "Bearer " + secret, "Content-Type": "application/json"}
ok = 0
for _ in range(count):
    conn.request("POST", "/api/agents/heartbeat", body=json.dumps(report()), headers=headers)
    r = conn.getresponse(); json.loads(r.read())
    ok += r.status == 200
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"heartbeats": count, "ok": ok, "cpuSec": round(u.ru_utime + u.ru_stime, 3)}))
"""#
}
