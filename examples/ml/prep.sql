-- one row per order: the training examples of a "will this order be large?" model
CREATE VIEW order_examples AS
SELECT o.oid, o.amount, o.qty, month(o.day) AS month, c.country, c.tier, c.email
FROM orders AS o JOIN customers AS c ON o.cid = c.id
WHERE o.qty > 0;
