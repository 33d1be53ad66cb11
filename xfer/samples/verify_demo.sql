-- The small MariaDB database of the README's `xfer verify` example (uses MariaDB's sequence engine):
--   mariadb -e "CREATE DATABASE shop_demo" && mariadb shop_demo < xfer/samples/verify_demo.sql
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(60) NOT NULL, email VARCHAR(120), vip TINYINT(1) NOT NULL DEFAULT 0, prefs JSON);
CREATE TABLE orders (id BIGINT UNSIGNED PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2) NOT NULL, weight DOUBLE, placed_at DATETIME(6) NOT NULL, status ENUM('new','paid','shipped') NOT NULL);
CREATE TABLE audit_log (at TIMESTAMP NULL, who VARCHAR(20), what TEXT);
INSERT INTO customers SELECT seq, CONCAT('Customer ', seq), IF(seq % 10 = 0, NULL, CONCAT('c', seq, '@example.com')), seq % 5 = 0, IF(seq % 3 = 0, NULL, CONCAT('{"lang": "en", "news": ', IF(seq % 2, 'true', 'false'), '}')) FROM seq_1_to_2000;
INSERT INTO orders SELECT seq, 1 + seq % 2000, (seq * 37 % 100000) / 100, IF(seq % 4 = 0, NULL, seq / 3.0e0), '2024-01-01' + INTERVAL seq MINUTE + INTERVAL seq MICROSECOND, ELT(1 + seq % 3, 'new', 'paid', 'shipped') FROM seq_1_to_10000;
INSERT INTO audit_log VALUES ('2024-05-01 10:00:00', 'alice', 'login'), ('2024-05-01 10:05:00', 'bob', 'refund #42'), (NULL, 'cron', 'nightly');
