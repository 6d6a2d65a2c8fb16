"""The inventory service: stock per product and reservations of it for orders, never oversold."""
