-- A small multi-tenant SaaS database (MariaDB / MySQL) for the example mapping files.
--   mysql -h 127.0.0.1 -u root -e "CREATE DATABASE saas" && mysql -h 127.0.0.1 -u root saas < mappings/examples/saas.sql
CREATE TABLE tenants (
  id INT PRIMARY KEY,
  name VARCHAR(100) NOT NULL
);
CREATE TABLE customers (
  id INT AUTO_INCREMENT PRIMARY KEY,
  tenant_id INT NOT NULL,
  first_name VARCHAR(50) NOT NULL,
  last_name VARCHAR(50) NOT NULL,
  email VARCHAR(255) NOT NULL,
  phone VARCHAR(30),
  status ENUM('active', 'paused', 'closed') NOT NULL DEFAULT 'active',
  legacy_flag TINYINT(1) NOT NULL DEFAULT 0,
  score FLOAT,
  created_at DATETIME NOT NULL,
  UNIQUE KEY uq_customer_email (tenant_id, email),
  CONSTRAINT fk_customer_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);
CREATE TABLE orders (
  id INT PRIMARY KEY,
  tenant_id INT NOT NULL,
  customer_id INT NOT NULL,
  status VARCHAR(20) NOT NULL,
  total DECIMAL(10, 2) NOT NULL,
  note TEXT,
  placed_at DATETIME NOT NULL,
  KEY ix_order_placed (placed_at),
  CONSTRAINT fk_order_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);
CREATE TABLE customers_eu (
  id INT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(255),
  vat_id VARCHAR(20)
);
CREATE TABLE customers_us (
  id INT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  mail VARCHAR(255),
  state CHAR(2)
);
CREATE TABLE tmp_import (id INT, payload TEXT);
CREATE TABLE migration_log (
  id INT AUTO_INCREMENT PRIMARY KEY,
  tenant_id INT NOT NULL,
  done_at DATETIME NOT NULL
);

INSERT INTO tenants VALUES (7, 'Acme Ltd'), (42, 'Zoë & Co');
INSERT INTO customers VALUES
  (1, 42, 'Ada', 'Lovelace', ' Ada@Example.COM ', ' +44 20 7946 0001 ', 'active', 1, 4.25, '2021-03-04 10:00:00'),
  (2, 42, 'Zoë', 'O''Brien', 'zoe@example.com', '', 'paused', 0, 3.1415927, '2022-07-08 11:30:00'),
  (3, 42, '山田', '太郎', 'TARO@example.jp', NULL, 'closed', 0, NULL, '2023-01-02 00:00:01'),
  (4, 7, 'Bob', 'Smith', 'bob@acme.test', '555-0100', 'active', 1, 1.5, '2020-01-01 09:00:00'),
  (5, 7, 'Eve', 'Jones', 'eve@acme.test', '555-0199', 'active', 0, 2.75, '2020-02-02 09:00:00');
INSERT INTO orders VALUES
  (100, 42, 1, 'open', 19.99, '  gift wrap  ', '2024-01-05 12:00:00'),
  (101, 42, 1, 'shipped', 250.00, NULL, '2023-12-24 08:15:00'),
  (102, 42, 2, 'cancelled', 5.50, '   ', '2024-02-01 17:45:00'),
  (103, 42, 3, 'open', 1234.56, 'call first', '2024-03-10 09:00:00'),
  (200, 7, 4, 'open', 10.00, NULL, '2024-01-01 10:00:00'),
  (201, 7, 5, 'shipped', 99.95, 'fragile', '2024-01-02 10:00:00');
INSERT INTO customers_eu VALUES
  (1, 'Müller GmbH', 'info@mueller.de', 'DE123456789'),
  (2, 'Dupont SA', NULL, 'FR987654321');
INSERT INTO customers_us VALUES
  (1, 'Globex Corp', 'sales@globex.com', 'CA'),
  (3, 'Initech', 'it@initech.com', 'TX');
INSERT INTO tmp_import VALUES (1, 'scratch');
