/// The member workspace: the tab bar and one template per tab.
extension DashboardTemplates {
    static let memberFrame = """
        <p class="crumbs"><a href="/pools/{{poolID}}">{{poolName}}</a> ›</p>
        <h1>{{member.hostname}}</h1>
        <nav class="tabs" aria-label="Member">
        {{#tabs}}<a href="/pools/{{poolID}}/members/{{memberID}}/{{key}}" data-tab="{{key}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a>
        {{/tabs}}
        </nav>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{{tab}}}
        """

    static let tabControl = """
        <h2>Host facts</h2>
        {{^facts}}<p>No heartbeat yet.</p>{{/facts}}
        <dl class="facts" id="host-facts">{{#facts}}<dt>{{k}}</dt><dd>{{v}}</dd>{{/facts}}</dl>
        <h2>Host operations</h2>
        {{#hostOpError}}<p class="error" role="alert" id="hostop-error">{{hostOpError}}</p>{{/hostOpError}}
        <div class="host-ops">
        {{#hostOps}}<form class="host-op" method="post" action="/pools/{{poolID}}/members/{{memberID}}/hostop"{{#confirmText}} data-confirm="{{confirmText}}"{{/confirmText}}>
        <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" name="op" value="{{op}}"{{#confirmText}} class="danger"{{/confirmText}}>{{label}}</button> <code>{{command}}</code></form>
        {{/hostOps}}
        </div>
        <p class="muted">Each queues a job; its result shows on the <a href="/pools/{{poolID}}/members/{{memberID}}/jobs">Cron &amp; Jobs</a> tab. Install and reboot ask first.</p>
        {{#hasHiddenStacks}}<h2>Stacks not on this host</h2>
        <dl class="facts" id="hidden-stacks">{{#hiddenStacks}}<dt>{{name}}</dt><dd>{{reason}}</dd>{{/hiddenStacks}}</dl>{{/hasHiddenStacks}}
        """

    /// A stack's own tab: the plugin's heartbeat entry as rows, its commands, and (Galera) the
    /// pool's view of the cluster.
    static let tabStackReadout = """
        <h2>{{stackLabel}}</h2>
        <p class="muted">As the latest heartbeat reported it{{#received}} ({{> time}}){{/received}}.</p>
        {{{clusterView}}}
        <table class="readout" id="stack-readout" data-stack="{{stackName}}"><tbody>
        {{#rows}}<tr><th scope="row">{{k}}</th><td>{{v}}</td></tr>
        {{/rows}}</tbody></table>
        {{#omitted}}<p class="muted">{{omitted}} more values not shown (see <code>balctl members show {{memberID}}</code>).</p>{{/omitted}}
        <h2>Commands</h2>
        {{^stackCommands}}<p>This control plane's catalogue lists no commands for this stack.</p>{{/stackCommands}}
        {{#hasStackCommands}}<table id="stack-commands"><thead><tr><th scope="col">Command</th><th scope="col">What it does</th><th scope="col">Parameters</th><th scope="col">Run</th></tr></thead><tbody>
        {{#stackCommands}}<tr data-command="{{id}}"><td><code>{{id}}</code></td><td>{{summary}}</td><td>{{parameters}}</td><td><a href="/pools/{{poolID}}/members/{{memberID}}/jobs?command={{id}}#enqueue-job">Run…</a></td></tr>
        {{/stackCommands}}</tbody></table>{{/hasStackCommands}}
        """

    static let tabStack = """
        <h2>{{heading}}</h2>
        {{^stacks}}<p>This member reports nothing for it yet.</p>{{/stacks}}
        {{#stacks}}<h3>{{name}}</h3><table class="readout" data-stack="{{name}}"><tbody>
        {{#rows}}<tr><th scope="row">{{k}}</th><td>{{v}}</td></tr>
        {{/rows}}</tbody></table>{{#omitted}}<p class="muted">{{omitted}} more values not shown.</p>{{/omitted}}{{/stacks}}
        """

    static let tabStatus = """
        <h2>HAProxy servers</h2>
        <div data-events="/pools/{{poolID}}/events" data-member-id="{{memberID}}">
        {{^rows}}<p>No HAProxy statistics in this member's heartbeat (HAProxy not installed, or no admin socket answering).</p>{{/rows}}
        <table id="haproxy-servers">
        <thead><tr><th scope="col">Backend</th><th scope="col">Server</th><th scope="col">Status</th><th scope="col">Sessions</th><th scope="col">Check</th><th scope="col">Action</th></tr></thead>
        <tbody>
        {{#rows}}<tr class="haproxy-server" data-backend="{{backend}}" data-server="{{server}}"><td>{{backend}}</td><td>{{server}}</td><td class="server-status">{{status}}</td><td class="server-sessions">{{scur}}</td><td class="server-check">{{check}}</td>
        <td><form class="server-action" method="post" action="/pools/{{poolID}}/members/{{memberID}}/haproxy"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="backend" value="{{backend}}"><input type="hidden" name="server" value="{{server}}">
        <button type="submit" name="action" value="drain">Drain</button> <button type="submit" name="action" value="ready">Ready</button> <button type="submit" name="action" value="maint">Maint</button></form></td></tr>
        {{/rows}}
        </tbody>
        </table>
        {{#capped}}<p class="muted">The first {{capped}} servers are shown; <code>balctl members stats {{memberID}}</code> lists them all.</p>{{/capped}}
        <p><a class="refresh" href="/pools/{{poolID}}/members/{{memberID}}/status">Refresh</a> <span class="muted">(rows update live as the agent reports them)</span></p>
        </div>
        """

    static let tabJobs = """
        <h2>Run a command</h2>
        <form id="enqueue-job" method="post" action="/pools/{{poolID}}/members/{{memberID}}/jobs" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="command">Command</label>
        <select id="command" name="command">{{#commands}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{id}}</option>{{/commands}}</select>
        {{#commandError}}<p class="error field-error" role="alert">{{commandError}}</p>{{/commandError}}
        <label for="params">Parameters (JSON object, optional)</label>
        <textarea id="params" name="params" rows="3">{{params}}</textarea>
        {{#paramsError}}<p class="error field-error" role="alert" id="params-error">{{paramsError}}</p>{{/paramsError}}
        <button type="submit">Queue</button>
        </form>
        <h2>Schedules</h2>
        {{^schedules}}<p>No schedules.</p>{{/schedules}}
        <table id="schedules">{{#schedules}}<tr><td>{{name}}</td><td><code>{{cron}}</code></td><td>{{what}}</td><td>{{enabled}}</td></tr>{{/schedules}}</table>
        <h2>Job timeline</h2>
        <div data-events="/pools/{{poolID}}/events" data-member-id="{{memberID}}">
        <table id="job-timeline">
        <thead><tr><th scope="col">Job</th><th scope="col">Command</th><th scope="col">State</th><th scope="col">Progress</th><th scope="col">Queued</th><th scope="col">Finished</th></tr></thead>
        <tbody>{{#jobs}}{{{html}}}{{/jobs}}</tbody>
        </table>
        <p><a class="refresh" href="/pools/{{poolID}}/members/{{memberID}}/jobs">Refresh</a></p>
        </div>
        """

    static let jobRow = """
        <tr class="job-row" data-job-id="{{id}}" data-member-id="{{memberId}}"><td>#{{id}}</td><td class="job-command">{{command}}</td><td class="job-state state-{{state}}">{{state}}</td><td class="job-progress">{{progress}}</td><td>{{#created}}{{> time}}{{/created}}</td><td>{{#finished}}{{> time}}{{/finished}}</td></tr>
        """

    static let tabRestore = """
        <h2>Snapshots</h2>
        {{#unavailable}}<p class="warning">{{unavailable}}</p>{{/unavailable}}
        {{^snapshots}}<p>No snapshots of this member.</p>{{/snapshots}}
        <table id="snapshots"><thead><tr><th scope="col">Snapshot</th><th scope="col">Scope</th><th scope="col">State</th><th scope="col">Size</th><th scope="col">Taken</th></tr></thead>
        <tbody>{{#snapshots}}<tr class="snapshot-row" data-snapshot-id="{{id}}"><td><code>{{id}}</code></td><td>{{scope}}</td><td>{{state}}</td><td>{{bytes}}</td><td>{{#created}}{{> time}}{{/created}}</td></tr>{{/snapshots}}</tbody></table>
        {{#restoreError}}<p class="error field-error" role="alert" id="restore-error">{{restoreError}}</p>{{/restoreError}}
        {{#hasSnapshots}}
        <h2>Restore</h2>
        <form id="restore-snapshot" method="post" action="/pools/{{poolID}}/members/{{memberID}}/restore-snapshot" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="snapshot">Snapshot</label>
        <select id="snapshot" name="snapshot">{{#snapshots}}<option value="{{id}}">{{id}} · {{scope}} · {{bytes}}</option>{{/snapshots}}</select>
        <label for="restore-to">Onto member (another one: disaster recovery)</label>
        <select id="restore-to" name="to">{{#targets}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{hostname}}{{#here}} (this member){{/here}}</option>{{/targets}}</select>
        <p><input type="checkbox" id="provision" name="provision" value="1"> <label for="provision">Install the stack first (<code>standby.provision_from_backup</code>, for a fresh standby)</label></p>
        <button type="submit">Restore…</button>
        </form>
        {{/hasSnapshots}}
        """

    static let tabRecipes = """
        <h2>Recipes that fit this member</h2>
        {{^recipes}}<p>None loaded (start the server with <code>--recipes-dir</code>).</p>{{/recipes}}
        {{#recipeForms}}
        <form class="recipe-run card" data-recipe-id="{{id}}" method="post" action="/pools/{{poolID}}/members/{{memberID}}/recipe">
        <h3>{{title}} <code>{{id}}</code></h3>
        <p>{{description}}</p>
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="recipe" value="{{id}}">
        {{#params}}<label for="{{inputID}}">{{name}} ({{type}}){{#description}} — {{description}}{{/description}}</label>
        <input id="{{inputID}}" name="p.{{name}}" value="{{value}}" placeholder="{{placeholder}}">
        {{/params}}
        {{#error}}<p class="error field-error" role="alert">{{error}}</p>{{/error}}
        <button type="submit" name="mode" value="run">Run</button>{{#canDisable}} <button type="submit" name="mode" value="disable" class="danger">Disable…</button>{{/canDisable}}
        </form>
        {{/recipeForms}}
        <h2>Runs</h2>
        {{^runs}}<p>No runs.</p>{{/runs}}
        <table id="recipe-runs">{{#runs}}<tr class="recipe-run-row" data-run-id="{{id}}"><td>#{{id}}</td><td>{{recipeId}}</td><td>{{mode}}</td><td>{{state}}</td><td>{{error}}</td></tr>{{/runs}}</table>
        """

    static let tabMonitoring = """
        <h2>Thresholds in effect</h2>
        {{^thresholds}}<p>No thresholds set for this member or its pool.</p>{{/thresholds}}
        <table id="thresholds"><thead><tr><th scope="col">Metric</th><th scope="col">Raise at</th><th scope="col">Clear at</th><th scope="col">From</th></tr></thead>
        <tbody>{{#thresholds}}<tr class="threshold-row" data-metric="{{metric}}"><td>{{metric}}</td><td>{{raiseAt}}</td><td>{{clearAt}}</td><td>{{source}}</td></tr>{{/thresholds}}</tbody></table>
        <h2>Set a threshold for this member</h2>
        <form id="threshold-form" method="post" action="/pools/{{poolID}}/members/{{memberID}}/threshold" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="metric">Metric</label>
        <select id="metric" name="metric">{{#metrics}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{id}}</option>{{/metrics}}</select>
        <label for="raise-at">Raise at</label><input id="raise-at" name="raiseAt" inputmode="decimal" value="{{thresholdForm.raiseAt}}">
        <label for="clear-at">Clear at (optional)</label><input id="clear-at" name="clearAt" inputmode="decimal" value="{{thresholdForm.clearAt}}">
        <p><input type="checkbox" id="threshold-enabled" name="enabled" value="1"{{#thresholdForm.enabled}} checked{{/thresholdForm.enabled}}> <label for="threshold-enabled">Enabled</label></p>
        {{#thresholdError}}<p class="error field-error" role="alert" id="threshold-error">{{thresholdError}}</p>{{/thresholdError}}
        <button type="submit">Save threshold</button>
        </form>
        """

    /// A confirmation for a destructive member action: what will happen, and the same form
    /// again with `confirmed=1`.
    static let confirmAction = """
        <h1>{{title}}</h1>
        <div class="card narrow">
        <dl class="changes">{{#changes}}<dt>{{k}}</dt><dd>{{v}}</dd>{{/changes}}</dl>
        <form id="{{formID}}" method="post" action="{{action}}">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="confirmed" value="1">
        {{#fields}}<input type="hidden" name="{{name}}" value="{{value}}">{{/fields}}
        <button type="submit" class="danger">{{button}}</button> <a href="{{back}}">Cancel</a>
        </form>
        </div>
        """

    static let tabSettings = """
        <h2>Host</h2>
        <form id="member-settings" method="post" action="/pools/{{poolID}}/members/{{memberID}}/settings" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="hostname">Hostname</label>
        <input id="hostname" name="hostname" value="{{form.hostname}}">
        {{#hostnameError}}<p class="error field-error" role="alert">{{hostnameError}}</p>{{/hostnameError}}
        <label for="allowed">Allowed source IPs (comma-separated)</label>
        <input id="allowed" name="allowedIPs" value="{{form.allowedIPs}}">
        {{#allowedError}}<p class="error field-error" role="alert">{{allowedError}}</p>{{/allowedError}}
        <button type="submit">Save</button>
        </form>
        <h2>Geo location</h2>
        <form id="member-geo" method="post" action="/pools/{{poolID}}/members/{{memberID}}/geo" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="lat">Latitude</label><input id="lat" name="lat" inputmode="decimal" value="{{form.lat}}">
        <label for="lon">Longitude</label><input id="lon" name="lon" inputmode="decimal" value="{{form.lon}}">
        {{#geoError}}<p class="error field-error" role="alert">{{geoError}}</p>{{/geoError}}
        <button type="submit">Save location</button>
        </form>
        <h2>Enrollment secret</h2>
        {{#installCommand}}<p class="notice">Shown once — the install command with the new secret:</p><pre id="install-command">{{installCommand}}</pre>{{/installCommand}}
        <form id="rotate-secret" method="post" action="/pools/{{poolID}}/members/{{memberID}}/rotate-secret" data-confirm="Rotate the secret? The agent stops authenticating until reinstalled.">
        <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Rotate secret</button></form>
        <h2>Remove</h2>
        <form id="remove-member" method="post" action="/pools/{{poolID}}/members/{{memberID}}/remove" data-confirm="Remove this member and its jobs?">
        <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger">Remove member</button></form>
        """

    static let fleetMap = """
        <h1>Fleet map</h1>
        <figure class="map">
        <svg id="fleet-map" viewBox="0 0 360 180" role="img" aria-label="Members by location">
        <image href="{{world}}" x="0" y="0" width="360" height="180"/>
        {{#points}}<a href="/pools/{{poolID}}/members/{{id}}"><circle class="map-member" data-member-id="{{id}}" cx="{{x}}" cy="{{y}}" r="2.5"><title>{{hostname}}</title></circle></a>{{/points}}
        </svg>
        </figure>
        {{^points}}<p>No member has a geo location yet (set one on a member's Settings tab).</p>{{/points}}
        <ul>{{#points}}<li><a href="/pools/{{poolID}}/members/{{id}}">{{hostname}}</a> ({{lat}}, {{lon}})</li>{{/points}}</ul>
        """
}
