/// The pool overview: KPIs, the traffic-flow line, member cards (live over SSE).
extension DashboardTemplates {
    static let poolTabs = """
        <nav class="tabs pool-tabs" aria-label="Pool">
        <a href="/pools/{{pool.id}}" data-tab="overview"{{#tabOverview}} aria-current="page"{{/tabOverview}}>Overview</a>
        <a href="/pools/{{pool.id}}/failover" data-tab="failover"{{#tabFailover}} aria-current="page"{{/tabFailover}}>Failover</a>
        </nav>
        """

    static let overview = """
        <h1>{{pool.name}}</h1>
        {{> poolTabs}}
        <div id="live" data-events="/pools/{{pool.id}}/events">
        <section class="kpis" aria-label="Key figures">
        {{#kpis}}<div class="kpi" data-kpi="{{key}}"><span class="kpi-value">{{value}}</span> <span class="kpi-label">{{label}}</span></div>
        {{/kpis}}
        </section>
        {{{trafficFlow}}}
        <p class="actions"><a class="button" href="/pools/{{pool.id}}/cut">Cut DNS to standby…</a> <a class="refresh" href="/pools/{{pool.id}}">Refresh</a></p>
        <section class="cards" aria-label="Members">
        {{^cards}}<p>No members yet. Add one with <code>balctl members add</code>.</p>{{/cards}}
        {{#cards}}{{{html}}}{{/cards}}
        </section>
        </div>
        {{#clusterView}}<h2>Database clusters</h2>{{{clusterView}}}{{/clusterView}}
        """

    /// Galera clusters as the pool's members report them (`GET /api/v1/pools/{pool}/clusters`):
    /// one block per cluster state UUID, its status, warnings and nodes.
    static let clusterView = """
        <section class="clusters" aria-label="Database clusters">
        {{#poolWarnings}}<p class="warning" role="alert">{{.}}</p>{{/poolWarnings}}
        {{#clusters}}<div class="cluster card" data-cluster="{{uuid}}">
        <h3>Galera cluster <code>{{uuid}}</code>: <span class="cluster-status {{statusClass}}">{{status}}</span></h3>
        {{#warnings}}<p class="warning" role="alert">{{.}}</p>{{/warnings}}
        <table class="cluster-nodes"><thead><tr><th scope="col">Member</th><th scope="col">MariaDB</th><th scope="col">Size</th><th scope="col">Component</th><th scope="col">State</th><th scope="col">Conf</th><th scope="col">Report</th></tr></thead><tbody>
        {{#nodes}}<tr class="cluster-node" data-member-id="{{id}}"><td><a href="/pools/{{poolID}}/members/{{id}}/stack-galera">{{hostname}}</a></td><td>{{up}}</td><td>{{size}}</td><td>{{component}}</td><td>{{state}}</td><td>{{conf}}</td><td>{{age}}</td></tr>
        {{/nodes}}</tbody></table>
        </div>{{/clusters}}
        </section>
        """

    static let trafficFlow = """
        <p id="traffic-flow" class="flow">{{#hostname}}<span class="flow-host">{{hostname}}</span> → <span class="flow-provider">{{provider}}</span> → <span class="flow-ip">{{ip}}</span>{{#activeName}} ({{activeName}}){{/activeName}}{{/hostname}}{{^hostname}}No failover hostname set. <a href="/pools/{{poolID}}/failover">Set one</a>{{/hostname}}</p>
        """

    static let memberCard = """
        <article class="member-card role-{{roleClass}}" data-member-id="{{id}}" data-member-name="{{hostname}}">
        <h2><a href="/pools/{{poolID}}/members/{{id}}">{{hostname}}</a></h2>
        <p><span class="member-role">{{role}}</span> · <span class="member-readiness {{readyClass}}">{{readiness}}</span></p>
        <p class="muted">last heartbeat <span class="heartbeat-age" data-received="{{receivedISO}}">{{age}}</span></p>
        <p><span class="member-load">load {{load}}</span> · <span class="member-cpu">CPU {{cpu}}</span> · <span class="member-memory">memory {{memory}}</span></p>
        {{{sparkline}}}
        {{#canMakeActive}}<p><a class="make-active button" href="/pools/{{poolID}}/members/{{id}}/make-active">Make active…</a></p>{{/canMakeActive}}
        </article>
        """

    static let confirmMakeActive = """
        <h1>Make {{hostname}} active?</h1>
        <div class="card narrow">
        <p>This points the failover record at {{hostname}} now.</p>
        <dl class="changes">
        <dt>Record</dt><dd id="change-record">{{record}}</dd>
        <dt>Old IP</dt><dd id="change-old-ip">{{oldIP}}</dd>
        <dt>New IP</dt><dd id="change-new-ip">{{newIP}}</dd>
        <dt>Active member</dt><dd>{{oldActive}} → {{hostname}}</dd>
        </dl>
        {{#error}}<p class="error" role="alert" id="confirm-error">{{error}}</p>{{/error}}
        <form id="{{formID}}" method="post" action="{{action}}" data-confirm="{{confirmText}}">
        <input type="hidden" name="csrf" value="{{csrf}}">
        {{#offerForce}}<p><input type="checkbox" id="force" name="force" value="1"> <label for="force">Promote even though it is not ready</label></p>{{/offerForce}}
        <button type="submit">{{button}}</button> <a href="/pools/{{poolID}}">Cancel</a>
        </form>
        </div>
        """

    static let failover = """
        <h1>{{pool.name}}: failover</h1>
        {{> poolTabs}}
        <form id="failover-settings" method="post" action="/pools/{{pool.id}}/failover" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        {{#warnings}}<p class="warning">{{.}}</p>{{/warnings}}
        <label for="hostname">Failover hostname</label>
        <input id="hostname" name="hostname" value="{{form.hostname}}">
        <label for="provider">DNS provider</label>
        <select id="provider" name="providerId"><option value="0">(none)</option>{{#providers}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}} ({{kind}})</option>{{/providers}}</select>
        <label for="ttl">TTL (s)</label>
        <input id="ttl" name="ttl" inputmode="numeric" value="{{form.ttl}}">
        <label for="delay">Delay before failover (s)</label>
        <input id="delay" name="delaySec" inputmode="numeric" value="{{form.delaySec}}">
        <p><input type="checkbox" id="auto" name="autoFailover" value="1"{{#form.autoFailover}} checked{{/form.autoFailover}}> <label for="auto">Automatic failover</label></p>
        <label for="spacing">Minimum time between failovers (s)</label>
        <input id="spacing" name="minSpacingSec" inputmode="numeric" value="{{form.minSpacingSec}}">
        <p><input type="checkbox" id="proxied" name="proxied" value="1"{{#form.proxied}} checked{{/form.proxied}}> <label for="proxied">Proxied record (Cloudflare orange cloud)</label></p>
        <p><input type="checkbox" id="dynamic-dns" name="dynamicDNS" value="1"{{#form.dynamicDNS}} checked{{/form.dynamicDNS}}> <label for="dynamic-dns">Dynamic DNS (follow the active member's reported public IP)</label></p>
        <p><input type="checkbox" id="private-ips" name="allowPrivateIPs" value="1"{{#form.allowPrivateIPs}} checked{{/form.allowPrivateIPs}}> <label for="private-ips">Allow private IPs in the record</label></p>
        <label for="alert-emails">Alert emails (comma-separated)</label>
        <input id="alert-emails" name="alertEmails" value="{{form.alertEmails}}">
        <label for="webhook-url">Webhook URL (empty: none)</label>
        <input id="webhook-url" name="webhookURL" inputmode="url" value="{{form.webhookURL}}">
        <label for="webhook-secret">Webhook signing secret (16+ bytes; empty: keep {{#webhookSecretSet}}the one set{{/webhookSecretSet}}{{^webhookSecretSet}}none{{/webhookSecretSet}})</label>
        <input id="webhook-secret" name="webhookSecret" type="password" autocomplete="off">
        <button type="submit">Save</button>
        </form>
        <h2>Events</h2>
        <table id="failover-events">
        <thead><tr><th scope="col">When</th><th scope="col">Kind</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Reason</th><th scope="col">Error</th></tr></thead>
        <tbody>{{#events}}<tr class="failover-event" data-event-id="{{id}}"><td>{{#at}}{{> time}}{{/at}}</td><td>{{kind}}</td><td>{{fromIP}}</td><td>{{toIP}}</td><td>{{reason}}</td><td>{{error}}</td></tr>
        {{/events}}</tbody>
        </table>
        """
}
