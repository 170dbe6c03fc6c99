/// The signed-in user's own page: change the password.
extension DashboardTemplates {
    static let account = """
        <h1>Account</h1>
        <p>Signed in as <strong id="account-username">{{username}}</strong> (account {{account}}).</p>
        {{#notice}}<p class="notice" role="status" id="account-notice">{{notice}}</p>{{/notice}}
        <h2>Change password</h2>
        <form id="change-password" method="post" action="/account/password" class="card narrow">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="current">Current password</label>
        <input id="current" name="current" type="password" autocomplete="current-password" required>
        {{#currentError}}<p class="error field-error" role="alert" id="current-error">{{currentError}}</p>{{/currentError}}
        <label for="new">New password (12 to 72 bytes)</label>
        <input id="new" name="new" type="password" autocomplete="new-password" minlength="12" required>
        {{#newError}}<p class="error field-error" role="alert" id="new-error">{{newError}}</p>{{/newError}}
        <label for="repeat">New password again</label>
        <input id="repeat" name="repeat" type="password" autocomplete="new-password" minlength="12" required>
        {{#repeatError}}<p class="error field-error" role="alert" id="repeat-error">{{repeatError}}</p>{{/repeatError}}
        <button type="submit">Change password</button>
        <p class="muted">Your other sessions end when the password changes.</p>
        </form>
        """
}
