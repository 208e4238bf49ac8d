#!/bin/sh
# The demo shop's one page: its customers, read from the database at
# $DATABASE_URL (a libpq URL) with psql, which escapes the table as HTML.
# busybox httpd runs it for every request to /.
echo "Content-Type: text/html; charset=utf-8"
echo
cat <<HEAD
<!doctype html>
<html><head><meta charset="utf-8"><title>Demo shop</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}</style>
</head><body>
<h1>Demo shop</h1>
<p>build <b id="build">${BUILD:-unknown}</b></p>
HEAD
if ! out=$(psql "${DATABASE_URL:-}" -X -q -v ON_ERROR_STOP=1 -c "
	SELECT count(*) AS customers, (SELECT count(*) FROM orders) AS orders FROM customer" -H 2>&1 &&
	psql "${DATABASE_URL:-}" -X -q -v ON_ERROR_STOP=1 -H -c "
	SELECT c.customer_id AS id, c.first_name || ' ' || c.last_name AS name, c.email,
	       count(o.order_id) AS orders
	FROM customer c LEFT JOIN orders o ON o.customer_id = c.customer_id
	GROUP BY c.customer_id ORDER BY c.customer_id LIMIT 20" 2>&1); then
	echo "<p id=\"error\">the database does not answer yet</p>"
else
	echo "$out"
fi
echo "</body></html>"
