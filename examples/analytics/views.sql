-- An analytics workload over a shop's six tables (regions, customers, categories, products, orders, returns),
-- maintained by ivm under deletions; bench/test_bench_workload.py times it, tests/test_workload.py checks it.
-- Each view names the constructs it exercises.

-- 5-table inner join under an aggregate
CREATE VIEW q01_revenue_by_zone_dept AS
SELECT r.zone, cat.dept, c.segment, COUNT(*) AS orders, SUM(o.amount) AS revenue
FROM orders o JOIN customers c ON o.cid = c.id JOIN regions r ON c.region_id = r.id
JOIN products p ON o.pid = p.id JOIN categories cat ON p.category_id = cat.id
GROUP BY r.zone, cat.dept, c.segment;

-- LEFT JOIN with a non-equi part, under an aggregate (customers without orders keep a row)
CREATE VIEW q02_customer_lifetime AS
SELECT c.id, c.segment, COUNT(o.oid) AS orders, COALESCE(SUM(o.amount), 0) AS spent
FROM customers c LEFT JOIN orders o ON o.cid = c.id AND o.status <> 'cancelled'
GROUP BY c.id, c.segment;

-- anti join (NOT EXISTS) over a 3-table join, under an aggregate
CREATE VIEW q03_net_revenue_by_category AS
SELECT cat.name AS category, COUNT(*) AS kept_orders, SUM(o.amount) AS net_revenue
FROM orders o JOIN products p ON o.pid = p.id JOIN categories cat ON p.category_id = cat.id
WHERE NOT EXISTS (SELECT 1 FROM returns rt WHERE rt.oid = o.oid)
GROUP BY cat.name;

-- LEFT JOIN after inner joins, under an aggregate
CREATE VIEW q04_return_rate_by_dept AS
SELECT cat.dept, COUNT(*) AS order_lines, COUNT(rt.id) AS returned
FROM orders o JOIN products p ON o.pid = p.id JOIN categories cat ON p.category_id = cat.id
LEFT JOIN returns rt ON rt.oid = o.oid
GROUP BY cat.dept;

-- correlated scalar subquery (a customer's own average)
CREATE VIEW q05_outlier_orders AS
SELECT o.oid, o.cid, o.amount
FROM orders o
WHERE o.amount > 2 * (SELECT AVG(o2.amount) FROM orders o2 WHERE o2.cid = o.cid);

-- aggregate under a top-k (refilled from below when a top customer is forgotten)
CREATE VIEW q06_top_customers AS
SELECT o.cid, SUM(o.amount) AS spent, COUNT(*) AS orders
FROM orders o GROUP BY o.cid
ORDER BY spent DESC, o.cid LIMIT 100;

-- window (RANK per category) over an aggregate over a join, with QUALIFY
CREATE VIEW q07_top_products_per_category AS
SELECT p.category_id, o.pid, SUM(o.qty) AS units,
       RANK() OVER (PARTITION BY p.category_id ORDER BY SUM(o.qty) DESC) AS rank_in_category
FROM orders o JOIN products p ON o.pid = p.id
GROUP BY p.category_id, o.pid
QUALIFY rank_in_category <= 3;

-- running SUM per customer
CREATE VIEW q08_running_spend AS
SELECT o.oid, o.cid, o.day,
       SUM(o.amount) OVER (PARTITION BY o.cid ORDER BY o.day, o.oid) AS running_spend
FROM orders o WHERE o.status <> 'cancelled';

-- NOT IN over an uncorrelated 3-table subquery (NULL semantics of NOT IN)
CREATE VIEW q09_never_bought_tech AS
SELECT c.id, c.name
FROM customers c
WHERE c.id NOT IN (SELECT o.cid FROM orders o JOIN products p ON o.pid = p.id
                   JOIN categories cat ON p.category_id = cat.id WHERE cat.dept = 'tech');

-- semi join: IN over an uncorrelated aggregate with HAVING
CREATE VIEW q10_vip_customers AS
SELECT c.id, c.segment, r.zone
FROM customers c JOIN regions r ON c.region_id = r.id
WHERE c.id IN (SELECT o.cid FROM orders o GROUP BY o.cid HAVING SUM(o.amount) > 7000);

-- HAVING against an uncorrelated scalar subquery
CREATE VIEW q11_top_share_products AS
SELECT o.pid, SUM(o.amount) AS revenue
FROM orders o GROUP BY o.pid
HAVING SUM(o.amount) > (SELECT SUM(amount) * 0.00015 FROM orders);

-- EXCEPT (set)
CREATE VIEW q12_recent_never_returned AS
SELECT o.cid FROM orders o WHERE o.day >= DATE '2024-07-01'
EXCEPT
SELECT o.cid FROM returns rt JOIN orders o ON rt.oid = o.oid;

-- INTERSECT ALL
CREATE VIEW q13_cross_segment_products AS
SELECT o.pid FROM orders o JOIN customers c ON o.cid = c.id WHERE c.segment = 'enterprise' AND o.qty = 5
INTERSECT ALL
SELECT o.pid FROM orders o JOIN customers c ON o.cid = c.id WHERE c.segment = 'consumer' AND o.qty = 5;

-- FULL OUTER JOIN of two aggregates (CTEs)
CREATE VIEW q14_daily_orders_vs_returns AS
WITH d AS (SELECT day, COUNT(*) AS n FROM orders GROUP BY day),
     rt AS (SELECT day, COUNT(*) AS n FROM returns GROUP BY day)
SELECT COALESCE(d.day, rt.day) AS day, d.n AS orders, rt.n AS returns
FROM d FULL OUTER JOIN rt ON d.day = rt.day;

-- ROW_NUMBER per customer, QUALIFY (latest order)
CREATE VIEW q15_latest_order AS
SELECT o.cid, o.oid, o.day, o.amount
FROM orders o
QUALIFY ROW_NUMBER() OVER (PARTITION BY o.cid ORDER BY o.day DESC, o.oid DESC) = 1;

-- LAG per customer in a CTE, aggregated over a 3-table join
CREATE VIEW q16_reorder_gap_by_zone AS
WITH gaps AS (SELECT o.cid, o.day - LAG(o.day) OVER (PARTITION BY o.cid ORDER BY o.day, o.oid) AS gap
              FROM orders o)
SELECT r.zone, AVG(g.gap) AS mean_gap_days, COUNT(g.gap) AS gaps
FROM gaps g JOIN customers c ON g.cid = c.id JOIN regions r ON c.region_id = r.id
GROUP BY r.zone;

-- correlated scalar subqueries in SELECT (one over a join) and a LEFT JOIN
CREATE VIEW q17_customer_profile AS
SELECT c.id, r.name AS region,
       (SELECT MAX(o.day) FROM orders o WHERE o.cid = c.id) AS last_order,
       (SELECT COUNT(*) FROM returns rt JOIN orders o ON rt.oid = o.oid WHERE o.cid = c.id) AS returns
FROM customers c LEFT JOIN regions r ON c.region_id = r.id;

-- top-k straight over the largest table
CREATE VIEW q18_biggest_orders AS
SELECT o.oid, o.cid, o.amount FROM orders o ORDER BY o.amount DESC, o.oid LIMIT 20;
