-- Generated shop data, the same on every run: psql -v scale=N -f generate.sql
-- (scale 1 is about 13 500 rows; 75 is about a million).
\set customers (1000 * :scale)
\set products (400 + 100 * :scale)
\set orders (2500 * :scale)

BEGIN;
SET CONSTRAINTS ALL DEFERRED;
INSERT INTO store SELECT s, (s - 1) * 4 + 1, 'Store ' || s,
  (ARRAY['Lisbon', 'Oslo', 'Lyon', 'Graz', 'Turin'])[s] FROM generate_series(1, 5) s;
INSERT INTO staff SELECT t, (t - 1) / 4 + 1, 'Staff Member ' || t, 'staff' || t || '@shop.example',
  md5('pw' || t) FROM generate_series(1, 20) t;
COMMIT;

INSERT INTO customer (store_id, first_name, last_name, email, phone, born, notes, created)
SELECT 1 + (c % 5),
  (ARRAY['Maria', 'João', 'Ingrid', 'Lucas', 'Chloé', 'Hans', 'Giulia', 'Olaf', 'Ana', 'Pierre'])[1 + c % 10],
  (ARRAY['Silva', 'Hansen', 'Martin', 'Bauer', 'Rossi', 'Costa', 'Berg', 'Dubois', 'Huber', 'Ferrari'])[1 + (c / 10) % 10],
  'customer' || c || '@mail.example',
  '+351 ' || lpad((c::bigint * 7919 % 1000000000)::text, 9, '0'),
  date '1950-01-01' + (c * 37 % 20000),
  CASE WHEN c % 7 = 0 THEN 'prefers calls to ' || '+351 ' || lpad((c::bigint * 7919 % 1000000000)::text, 9, '0') END,
  timestamptz '2024-01-01' + (c::bigint * 613 % 60000000) * interval '1 second'
FROM generate_series(1, :customers) c;

INSERT INTO address (customer_id, line1, city, postcode, phone)
SELECT c, (c * 31 % 300) || ' Rua ' || (ARRAY['Augusta', 'do Ouro', 'da Prata'])[1 + c % 3],
  (ARRAY['Lisbon', 'Porto', 'Braga', 'Faro'])[1 + c % 4], lpad((c * 13 % 9999)::text, 4, '0') || '-' || lpad((c % 999)::text, 3, '0'),
  CASE WHEN c % 3 = 0 THEN '+351 2' || lpad((c::bigint * 104729 % 100000000)::text, 8, '0') END
FROM generate_series(1, :customers) c;

INSERT INTO category SELECT k, CASE WHEN k > 10 THEN 1 + k % 10 END, 'Category ' || k
FROM generate_series(1, 50) k;
INSERT INTO product SELECT p, 1 + p % 50, 'Product ' || p, round((1 + (p * 7 % 500))::numeric * 0.99, 2)
FROM generate_series(1, :products) p;

INSERT INTO orders SELECT o, 1 + (o * 7 % :customers), 1 + o % 5, CASE WHEN o % 4 > 0 THEN 1 + o % 20 END,
  timestamptz '2024-01-01' + (o::bigint * 997 % 94000000) * interval '1 second',
  (ARRAY['placed', 'paid', 'shipped', 'returned']::order_status[])[1 + o % 4]
FROM generate_series(1, :orders) o;
INSERT INTO order_line SELECT o, l, 1 + (o * 13 + l * 17) % :products, 1 + (o + l) % 4,
  round((1 + ((o * 13 + l * 17) * 7 % 500))::numeric * 0.99, 2)
FROM generate_series(1, :orders) o, generate_series(1, 2) l;
INSERT INTO payment SELECT o, o, round((5 + o % 200)::numeric * 1.5, 2),
  date '2024-01-01' + ((o::bigint * 997 % 94000000) / 86400)::integer, lpad((o * 31 % 10000)::text, 4, '0')
FROM generate_series(1, :orders) o;
INSERT INTO review SELECT 1 + (r * 11 % :products), 1 + (r * 3 % :customers), 1 + r % 5,
  CASE WHEN r % 2 = 0 THEN 'Bought it for ' || (ARRAY['Maria', 'João', 'Ingrid'])[1 + r % 3] || ', works well' END
FROM generate_series(1, :customers) r;
ANALYZE;
