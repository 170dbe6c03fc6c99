/// The page frame: header with the pool nav and the sign-out forms, main, footer. `body` is a
/// page rendered by its own template (escaped there); everything else here is escaped.
extension DashboardTemplates {
    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · balctl</title>
        <link rel="stylesheet" href="{{css}}">
        <script src="{{js}}" defer></script>
        </head>
        <body>
        <header class="top">
        <a class="brand" href="/pools">balctl</a>
        {{#session}}
        <nav class="pools-nav" aria-label="Pools">{{#pools}}<a href="/pools/{{id}}"{{#current}} aria-current="page"{{/current}}>{{name}}</a> {{/pools}}<a href="/fleet-map">Fleet map</a></nav>
        <a class="who" id="account-link" href="/account">{{username}}</a>
        <form id="signout-form" method="post" action="/signout"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Sign out</button></form>
        <form id="signout-everywhere-form" method="post" action="/signout-everywhere"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Sign out everywhere</button></form>
        {{/session}}
        </header>
        <main id="main">
        {{{body}}}
        </main>
        <footer>balctl {{version}} · times shown in your time zone (UTC on hover)</footer>
        </body>
        </html>
        """

    /// A time: machine-readable UTC, UTC on hover; app.js rewrites the text in the viewer's zone.
    static let time = """
        <time datetime="{{iso}}" title="{{utc}} UTC">{{utc}} UTC</time>
        """

    static let error = """
        <h1>{{heading}}</h1>
        <p class="error" id="error-message">{{message}}</p>
        <p><a href="/pools">Back to your pools</a></p>
        """

    static let signin = """
        <h1>Sign in</h1>
        <form id="signin-form" method="post" action="/signin" class="card narrow">
        <input type="hidden" name="next" value="{{next}}">
        {{#error}}<p id="signin-error" class="error" role="alert">{{error}}</p>{{/error}}
        <label for="username">Username</label>
        <input id="username" name="username" autocomplete="username" required value="{{username}}">
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required>
        <button type="submit">Sign in</button>
        </form>
        """

    static let pools = """
        <h1>Pools</h1>
        {{^pools}}<p>No pools yet. Create one with <code>balctl pools create NAME</code>.</p>{{/pools}}
        <table id="pools">
        <thead><tr><th scope="col">Pool</th><th scope="col">Template</th><th scope="col">Members</th><th scope="col">Created</th></tr></thead>
        <tbody>
        {{#pools}}<tr class="pool-row" data-pool-id="{{id}}"><td><a class="pool-link" href="/pools/{{id}}">{{name}}</a></td><td>{{template}}</td><td>{{memberCount}}</td><td>{{#created}}{{> time}}{{/created}}</td></tr>
        {{/pools}}
        </tbody>
        </table>
        """
}

/// The templates, parsed once.
enum DashboardTemplates {}
