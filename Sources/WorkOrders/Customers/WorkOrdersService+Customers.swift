public import Foundation
import StrataCore
public import StrataPostgres
import StrataSecurity

extension WorkOrdersService {
    /// A customer temporary account to create.
    public struct CustomerAccessDraft: Sendable, Decodable {
        public var customerName: String
        public var company: String?
        public var contactPhone: String?

        public init(customerName: String, company: String? = nil, contactPhone: String? = nil) {
            self.customerName = customerName
            self.company = company
            self.contactPhone = contactPhone
        }

        enum CodingKeys: String, CodingKey {
            case company
            case customerName = "customer_name"
            case contactPhone = "contact_phone"
        }
    }

    /// Gives an order a customer temporary account (replacing the one it had): a generated login
    /// `cust-xxxxxxxx` and password; the password is returned this once and kept as a bcrypt hash.
    /// - Throws: `validation_failed`, `not_found`.
    public func createCustomerAccess(_ draft: CustomerAccessDraft, on id: UUID, by caller: Caller) async throws -> IssuedCustomerAccess {
        var errors: [StrataError.FieldError] = []
        let name = draft.customerName.trimmingCharacters(in: .whitespacesAndNewlines)
        if !(1...100).contains(name.textLength) { errors.append(.init(field: "customer_name", reason: "must be 1 to 100 characters")) }
        let company = draft.company?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let company, company.textLength > 200 { errors.append(.init(field: "company", reason: "must be at most 200 characters")) }
        let phone = draft.contactPhone?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let phone, phone.textLength > 32 || !phone.allSatisfy({ $0.isNumber || "+- ()".contains($0) }) {
            errors.append(.init(field: "contact_phone", reason: "must be at most 32 digits, spaces and +-()"))
        }
        guard errors.isEmpty else { throw StrataError.validation(errors) }
        _ = try await order(id, scope: caller.orderScope)  // not_found before any costly work (the write checks again)
        let password = SecureRandom.string(10, from: Self.passwordAlphabet)
        let hash = try await PasswordHasher.standard.hash(password)
        let (access, order) = try await repository.write { unit in
            guard caller.reaches(id), let order = try await unit.lockOrder(id) else { throw Self.notFound() }
            let access = try await unit.putCustomerAccess(
                CustomerAccess(
                    id: UUID(),
                    workOrderID: id,
                    customerName: name,
                    company: company?.isEmpty == true ? nil : company,
                    contactPhone: phone?.isEmpty == true ? nil : phone,
                    login: "cust-" + SecureRandom.string(8, from: Self.loginAlphabet),
                    createdAt: Date()
                ),
                passwordHash: hash
            )
            var changed = order
            changed.customerAccess = access
            let stored = try await unit.updateOrder(changed, steps: [])
            try await unit.record(orderChange(stored, "customer_access.created", action: "customer_access.create", status: 201), by: caller)
            return (access, stored)
        }
        await invalidate(order)
        return IssuedCustomerAccess(access: access, password: password)
    }

    /// Confirms an order's customer access; confirming a confirmed one changes nothing.
    /// - Throws: `not_found` (order, or no such access on it).
    public func confirmCustomerAccess(_ accessID: UUID, on id: UUID, confirmedBy: String?, by caller: Caller) async throws -> CustomerAccess {
        if let confirmedBy, !(1...64).contains(confirmedBy.textLength) {
            throw StrataError.validation([.init(field: "confirmed_by", reason: "must be 1 to 64 characters")])
        }
        let (access, order) = try await repository.write { unit -> (CustomerAccess, WorkOrder?) in
            guard caller.reaches(id), let order = try await unit.lockOrder(id) else { throw Self.notFound() }
            guard var access = order.customerAccess, access.id == accessID else {
                throw StrataError(.notFound, "The work order has no customer access with this id.")
            }
            guard access.status == .active else { return (access, nil) }
            access.status = .confirmed
            access.confirmedAt = Date()
            access.confirmedBy = confirmedBy ?? String(caller.name.prefix(64))
            let confirmed = try await unit.updateCustomerAccess(access)
            var changed = order
            changed.customerAccess = confirmed
            let stored = try await unit.updateOrder(changed, steps: [])
            try await unit.record(orderChange(stored, "customer_access.confirmed", action: "customer_access.confirm", status: 200), by: caller)
            return (confirmed, stored)
        }
        if let order { await invalidate(order) }
        return access
    }

    static let loginAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    static let passwordAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
}
