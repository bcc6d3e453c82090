public import Foundation

/// A customer's temporary account on one work order, as the API shows it (never the password).
///
/// Created ACTIVE with a generated login (`cust-` + 8 lowercase letters and digits) and a
/// generated password that is returned once, at creation, and stored only as a bcrypt hash;
/// confirmation moves it to CONFIRMED once (confirming again changes nothing).
public struct CustomerAccess: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case active = "ACTIVE"
        case confirmed = "CONFIRMED"
    }

    public var id: UUID
    public var workOrderID: UUID
    public var customerName: String
    public var company: String?
    public var contactPhone: String?
    public var login: String
    public var status: Status
    public var confirmedBy: String?
    public var createdAt: Date
    public var confirmedAt: Date?

    public init(
        id: UUID,
        workOrderID: UUID,
        customerName: String,
        company: String? = nil,
        contactPhone: String? = nil,
        login: String,
        status: Status = .active,
        confirmedBy: String? = nil,
        createdAt: Date,
        confirmedAt: Date? = nil
    ) {
        self.id = id
        self.workOrderID = workOrderID
        self.customerName = customerName
        self.company = company
        self.contactPhone = contactPhone
        self.login = login
        self.status = status
        self.confirmedBy = confirmedBy
        self.createdAt = createdAt
        self.confirmedAt = confirmedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, company, login, status
        case workOrderID = "work_order_id"
        case customerName = "customer_name"
        case contactPhone = "contact_phone"
        case confirmedBy = "confirmed_by"
        case createdAt = "created_at"
        case confirmedAt = "confirmed_at"
    }
}

/// A customer access with what signing in needs: its bcrypt hash.
public struct CustomerCredential: Sendable, Equatable {
    public var access: CustomerAccess
    public var passwordHash: String

    public init(access: CustomerAccess, passwordHash: String) {
        self.access = access
        self.passwordHash = passwordHash
    }
}

/// The answer to creating a customer access: the account and its password, shown this once.
public struct IssuedCustomerAccess: Sendable, Encodable {
    public var access: CustomerAccess
    public var password: String

    public func encode(to encoder: any Encoder) throws {
        try access.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(password, forKey: .password)
    }

    enum Keys: String, CodingKey { case password }
}
