public import Foundation
public import StrataPostgres

extension Caller {
    /// The orders this caller may reach (the `work_order_ids` scope of a customer's token),
    /// `nil` for all.
    public var orderScope: [UUID]? { idScope(WorkOrdersModule.orderScope) }

    /// Whether the caller may reach the order `id`: an order outside its scope behaves exactly
    /// as a missing one.
    func reaches(_ id: UUID) -> Bool { orderScope.map { $0.contains(id) } ?? true }
}
