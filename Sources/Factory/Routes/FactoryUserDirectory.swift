import StrataCore
import StrataHTTP

/// The plant's users as the platform's login sees them: found by username or e-mail, signed in
/// as their role and scopes, their sign-in stamped.
struct FactoryUserDirectory: UserDirectory {
    let users: UserService

    func credentials(forLogin login: String) async throws -> UserCredentials? {
        guard let (user, hash) = try await users.signInRecord(forLogin: login) else { return nil }
        return UserCredentials(passwordHash: hash, principal: user.principal, active: user.active)
    }

    func signedIn(_ principal: Principal) async throws {
        guard principal.id.hasPrefix(FactoryUser.principalPrefix) else { return }
        try await users.recordSignIn(of: String(principal.id.dropFirst(FactoryUser.principalPrefix.count)))
    }
}
