"""Build ``shop.sqlite``, the small sample shop database that ships with xfer.

Usage: ``python xfer/samples/build_shop.py [PATH]`` (default: ``shop.sqlite`` next to this
script; an existing file is replaced). Stdlib only and deterministic: the same rows on every
run, so row counts and checksums in docs and tests stay stable.

The data is deliberately awkward for a migration tool: NULLs in every nullable column, an
empty string next to NULL, apostrophes, backslashes, double quotes, tabs and newlines, accents,
CJK, Hangul and emoji, money as DECIMAL(10,2), a composite primary key, foreign keys (one with
ON DELETE CASCADE), UNIQUE constraints and secondary indexes.

Storage note: SQLite gives DECIMAL/BOOLEAN/DATE/TIMESTAMP columns NUMERIC affinity. Prices
are bound as exact decimal strings ("19.99") and SQLite converts them: REAL for most, INTEGER
when whole ("12.00" -> 12). Dates and timestamps stay TEXT ('YYYY-MM-DD', 'YYYY-MM-DD
HH:MM:SS'); booleans are INTEGER 0/1.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import sys
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

SEED = 20240601
N_CUSTOMERS = 500
N_PRODUCTS = 200
N_ORDERS = 3000
MAX_LINES_PER_ORDER = 5  # 1..5 lines, ~3 on average -> ~9,000 order items

CENT = Decimal("0.01")

Row = tuple[object, ...]
ASCII_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D"})

SCHEMA = """
CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    country     CHAR(2),
    created_at  TIMESTAMP,
    vip         BOOLEAN
);

CREATE TABLE products (
    id          INTEGER PRIMARY KEY,
    sku         VARCHAR(32) NOT NULL UNIQUE,
    title       VARCHAR(200) NOT NULL,
    price       DECIMAL(10,2) NOT NULL,
    weight_kg   REAL,
    description TEXT
);

CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    ordered_on  DATE NOT NULL,
    status      VARCHAR(16) NOT NULL,
    note        TEXT
);

CREATE TABLE order_items (
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    line        INTEGER NOT NULL,
    product_id  INTEGER NOT NULL REFERENCES products(id),
    quantity    INTEGER NOT NULL,
    unit_price  DECIMAL(10,2) NOT NULL,
    PRIMARY KEY (order_id, line)
);

CREATE INDEX idx_orders_customer_id ON orders(customer_id);
CREATE INDEX idx_orders_ordered_on ON orders(ordered_on);
CREATE INDEX idx_order_items_product_id ON order_items(product_id);
"""

FIRST_NAMES = [
    "Alice", "Bob", "Carla", "David", "Emma", "Farid", "Grace", "Hugo", "Ingrid", "Jamal",
    "Karin", "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tariq",
    "José", "Zoë", "Björn", "François", "Łukasz", "Siobhán", "Chloé", "Søren", "Ayşe", "Đorđe",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Jones", "Garcia", "Müller", "Rossi", "Dubois", "Novak", "Kowalski", "Silva",
    "Jensen", "O'Brien", "D'Angelo", "O'Neil", "Núñez", "Nguyễn", "Ødegaard", "Çelik",
]  # fmt: skip
# Full names written natively (no latin first/last split).
NATIVE_NAMES = [
    "山田 太郎", "佐藤 花子", "王芳", "李伟", "김민준", "박서연", "Ελένη Παπαδοπούλου",
    "Иван Петров", "محمد علي", "דוד כהן",
]  # fmt: skip
COUNTRIES = ["US", "US", "US", "GB", "DE", "FR", "ES", "IT", "PL", "SE", "JP", "CN", "KR", "BR"]

ADJECTIVES = [
    "Classic", "Compact", "Deluxe", "Eco", "Handmade", "Heavy-Duty", "Mini", "Organic",
    "Pro", "Rustic", "Smart", "Vintage", "Wireless", "Crème", "Über",
]  # fmt: skip
NOUNS = [
    "Backpack", "Blender", "Candle", "Chair", "Desk Lamp", "Headphones", "Kettle", "Mug",
    "Notebook", "Pillow", "Scarf", "Teapot", "Umbrella", "Water Bottle", "Yoga Mat",
]  # fmt: skip
# Hand-written products: every awkward character class in titles and descriptions.
SPECIAL_PRODUCTS: list[tuple[str, str | None]] = [
    ("Rocket Mug 🚀", "Holds 350 ml of coffee ☕ — dishwasher safe."),
    ("Kids' Rain Boots", "Don't forget: sizes run small. It's \"waterproof\", they say."),
    ("抹茶 Matcha Set", "京都の抹茶と茶筅のセット。"),
    ("Café au lait Bowl", ""),  # empty string, not NULL
    ("Path\\To\\Nowhere Poster", "Backslashes \\ in text, and a trailing one \\"),
    ("Tab\tand Newline Sampler", "Line one\nLine two\r\nLine three\twith a tab"),
    ("한글 Notebook", None),
    ("Piñata 🎉🎂", "100% cotton; 50%-off sale -- 'limited' time"),
]
STATUSES = ["pending", "paid", "shipped", "shipped", "delivered", "delivered", "delivered"]
RARE_STATUSES = ["cancelled", "refunded"]
NOTES = [
    "Leave at the door",
    "Please gift-wrap 🎁",
    "Call before delivery, it's a flat on the 3rd floor",
    "Livraison après 18h, merci",
    "請在下午送達",
    "",  # empty string, not NULL
]


def money(rng: random.Random, low: int, high: int) -> Decimal:
    """A price between low and high with realistic endings (.99, .50, .00, anything)."""
    whole = rng.randint(low, high)
    cents = rng.choice([99, 99, 95, 50, 0, rng.randint(0, 99)])
    return Decimal(whole) + Decimal(cents) / 100


def timestamp(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    span = int((end - start).total_seconds())
    return start + dt.timedelta(seconds=rng.randint(0, span))


def ascii_fold(text: str) -> str:
    """'Łukasz Núñez' -> 'Lukasz Nunez' (for e-mail addresses)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(ASCII_FOLD))
    return decomposed.encode("ascii", "ignore").decode()


def customers(rng: random.Random) -> list[Row]:
    rows: list[Row] = []
    emails: set[str] = set()
    start, end = dt.datetime(2021, 1, 1), dt.datetime(2023, 12, 31, 23, 59, 59)
    for cid in range(1, N_CUSTOMERS + 1):
        if cid % 25 == 0:
            name = NATIVE_NAMES[(cid // 25) % len(NATIVE_NAMES)]
            local = f"user{cid}"
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name = f"{first} {last}"
            # Apostrophes are legal in e-mail local parts: keep them.
            local = ascii_fold(f"{first}.{last}").lower()
        email = f"{local}@example.com"
        if email in emails:
            email = f"{local}{cid}@example.com"
        emails.add(email)
        country = None if rng.random() < 0.08 else rng.choice(COUNTRIES)
        created = None if rng.random() < 0.01 else timestamp(rng, start, end)
        created_at = None if created is None else created.strftime("%Y-%m-%d %H:%M:%S")
        vip = rng.choice([0, 0, 0, 1, None])
        rows.append((cid, email, name, country, created_at, vip))
    return rows


def products(rng: random.Random) -> tuple[list[Row], dict[int, Decimal]]:
    """Product rows, and each product's price (for the order lines)."""
    rows: list[Row] = []
    prices: dict[int, Decimal] = {}
    for pid in range(1, N_PRODUCTS + 1):
        if pid == N_PRODUCTS - 1:
            title, description = "Gift Card (free sample)", None
        elif pid == N_PRODUCTS:
            title, description = "Private Island (deposit)", "Priced at the DECIMAL(10,2) maximum."
        elif pid <= len(SPECIAL_PRODUCTS):
            title, description = SPECIAL_PRODUCTS[pid - 1]
        else:
            title = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {chr(ord('A') + pid % 26)}{pid}"
            description = (
                None if rng.random() < 0.3 else f"Our {title.lower()} — rated {rng.randint(1, 5)}/5 by customers."
            )
        price = money(rng, 1, 999)
        if pid == N_PRODUCTS - 1:
            price = Decimal("0.00")
        elif pid == N_PRODUCTS:
            price = Decimal("99999999.99")
        weight = None if rng.random() < 0.15 else round(rng.uniform(0.05, 25.0), 3)
        if pid >= N_PRODUCTS - 1:
            weight = None
        # Bound as an exact decimal string; the column's NUMERIC affinity makes it a number.
        rows.append((pid, f"SKU-{pid:05d}", title, str(price), weight, description))
        prices[pid] = price
    return rows, prices


def orders_and_items(rng: random.Random, prices: dict[int, Decimal]) -> tuple[list[Row], list[Row]]:
    order_rows: list[Row] = []
    item_rows: list[Row] = []
    start = dt.date(2022, 1, 1)
    days = (dt.date(2024, 12, 31) - start).days
    # Sorted dates: ids grow with time, as in a real shop.
    dates = sorted(start + dt.timedelta(days=rng.randint(0, days)) for _ in range(N_ORDERS))
    # Nobody buys the island: keeps revenue figures in the quick-start queries believable.
    product_ids = sorted(pid for pid in prices if pid != N_PRODUCTS)
    for oid, ordered_on in enumerate(dates, start=1):
        customer_id = rng.randint(1, N_CUSTOMERS)
        status = rng.choice(RARE_STATUSES) if rng.random() < 0.05 else rng.choice(STATUSES)
        note = rng.choice(NOTES) if rng.random() < 0.1 else None
        order_rows.append((oid, customer_id, ordered_on.isoformat(), status, note))
        n_lines = rng.randint(1, MAX_LINES_PER_ORDER)
        for line, product_id in enumerate(rng.sample(product_ids, n_lines), start=1):
            quantity = rng.choice([1, 1, 1, 2, 2, 3, rng.randint(4, 20)])
            unit_price = prices[product_id]
            if rng.random() < 0.1:  # discounted line
                unit_price = (unit_price * Decimal("0.85")).quantize(CENT, ROUND_HALF_UP)
            item_rows.append((oid, line, product_id, quantity, str(unit_price)))
    return order_rows, item_rows


def build(path: Path) -> dict[str, int]:
    rng = random.Random(SEED)
    customer_rows = customers(rng)
    product_rows, prices = products(rng)
    order_rows, item_rows = orders_and_items(rng, prices)

    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(SCHEMA)
        with conn:
            conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", customer_rows)
            conn.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)", product_rows)
            conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", order_rows)
            conn.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?, ?)", item_rows)
        problems = conn.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"foreign key violations: {problems[:5]}")
        conn.execute("VACUUM")
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("customers", "products", "orders", "order_items")
        }
    finally:
        conn.close()
    tmp.replace(path)
    return counts


def main(argv: list[str]) -> int:
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in {"-h", "--help"}):
        print("usage: python build_shop.py [PATH]", file=sys.stderr)
        return 2
    path = Path(argv[1]) if len(argv) == 2 else Path(__file__).with_name("shop.sqlite")
    counts = build(path)
    summary = ", ".join(f"{n} {table}" for table, n in counts.items())
    print(f"wrote {path} ({path.stat().st_size:,} bytes): {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
