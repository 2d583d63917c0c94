-- Views of a small shop, maintained by ivm when customers or orders are deleted.
CREATE VIEW eu_orders AS
SELECT o.oid, o.day, o.amount, c.name, c.country
FROM orders o JOIN customers c ON o.cid = c.id
WHERE c.country IN ('UK', 'DE', 'FR') AND o.qty > 0;

CREATE VIEW revenue_per_country AS
SELECT country, COUNT(*) AS orders, SUM(amount::DECIMAL(10, 2)) AS revenue,
       AVG(amount::DECIMAL(10, 2)) AS mean_order, MAX(day) AS last_order
FROM eu_orders GROUP BY country;

CREATE VIEW customer_profile AS
SELECT c.id, c.tier, COUNT(DISTINCT o.day) AS active_days, MIN(o.amount) AS smallest_order
FROM customers c JOIN orders o ON o.cid = c.id
GROUP BY c.id, c.tier;

CREATE VIEW top_orders AS
SELECT oid, amount FROM orders ORDER BY amount DESC, oid LIMIT 5;
