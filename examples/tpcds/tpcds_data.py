"""Seeded TPC-DS-shaped data for the TPC-DS queries in queries.sql (standard benchmark queries, maintained
under deletion).

Not the official dsdgen: DuckDB's ``tpcds`` extension cannot be downloaded here, so the tables the queries
read are generated with DuckDB SQL from hashes of the row number, with only the columns the queries use plus
keys. Keys and the value domains the queries filter on follow the TPC-DS specification: ``d_date_sk`` is the
Julian day number (2000-01-01 is 2451545), ``d_month_seq`` counts months from 1900-01 (2000-01 is 1200),
sales run from 1998-01-02 to 2002-12-31 with a third of them in November and December (TPC-DS skews sales to
the holidays), the ten item categories with their classes, the demographic domains (genders, marital and
education statuses, credit ratings, buy potentials), states, counties and zip codes the queries name, and
surrogate foreign keys that are sometimes NULL. Returns are drawn from their sales (same item, customer and
ticket or order, returned 1 to 60 days later).

Scaled down so that the queries select rows at a few thousand sales: 90 items, whose ``i_manufact_id`` takes
twenty values (among them the ones the queries' default parameters name) and ``i_manager_id`` thirty (the
specification draws from 1,000 and 100), a quarter of the items cost under 2 dollars, most stores are
in Tennessee (as at small scale factors), and some catalog and web orders are placed by the customer of a
store ticket on the same day with the same items (a basket bought in several channels), so that the
INTERSECT / EXCEPT / FULL JOIN queries over channels have rows on both sides.

    python examples/tpcds/tpcds_data.py tpcds.duckdb 3000   # load sources at that many store tickets, deploy queries.sql
"""
from __future__ import annotations

import sys
from pathlib import Path

QUERIES = Path(__file__).with_name("queries.sql")

CATEGORIES = {
    "Books": ["arts", "business", "computers", "cooking", "fiction", "history", "mystery", "romance"],
    "Children": ["infants", "newborn", "school-uniforms", "toddlers"],
    "Electronics": ["audio", "automotive", "cameras", "disk drives", "dvd/vcr players", "memory", "monitors",
                    "musical", "personal", "portable", "scanners", "stereo", "televisions", "wireless"],
    "Home": ["accent", "bathroom", "bedding", "blinds/shades", "curtains/drapes", "decor", "flatware",
             "furniture", "glassware", "kids", "lighting", "mattresses", "paint", "rugs", "tables", "wallpaper"],
    "Jewelry": ["birdal", "bracelets", "consignment", "costume", "custom", "diamonds", "earings", "estate",
                "gold", "jewelry boxes", "loose stones", "mens watch", "pendants", "rings", "semi-precious",
                "womens watch"],
    "Men": ["accessories", "pants", "shirts", "sports-apparel"],
    "Music": ["classical", "country", "pop", "rock"],
    "Shoes": ["athletic", "kids", "mens", "womens"],
    "Sports": ["archery", "athletic shoes", "baseball", "basketball", "camping", "fishing", "fitness", "football",
               "golf", "guns", "hockey", "optics", "outdoor", "pools", "sailing", "tennis"],
    "Women": ["dresses", "fragrances", "maternity", "swimwear"],
}
BRANDS = ["amalgamalg", "edu packamalg", "exportiamalg", "importoamalg", "scholaramalg", "univamalg",
          "amalgbrand", "corpbrand", "namelessbrand", "brandbrand"]
COLOURS = ["slate", "blanched", "burnished", "chiffon", "almond", "peach", "saddle", "sky", "orchid", "lawn",
           "powder", "lavender", "thistle", "aquamarine", "floral", "midnight", "navy", "cornsilk", "puff", "rose"]
STATES = ["TN", "GA", "CA", "WA", "KY", "NM", "MS", "IN", "ND", "OK", "VA", "TX", "OH", "IL"]
COUNTIES = ["Williamson County", "Franklin Parish", "Bronx County", "Orange County", "Rush County",
            "Toole County", "Jefferson County", "Dona Ana County", "La Porte County", "Ziebach County",
            "Walker County", "Fairfield County", "Barrow County", "Luce County", "Richland County"]
ZIPS = ["85669", "86197", "88274", "83405", "86475", "85392", "85460", "80348", "81792", "35709", "31904",
        "30411", "37057", "38354", "39101", "40604", "41711", "45281", "46584", "47057", "54593", "55709",
        "60059", "62808", "66557", "68371", "71711", "73134", "77093", "78677"]
CITIES = ["Midway", "Fairview", "Oak Grove", "Five Points", "Pleasant Hill", "Centerville", "Riverside",
          "Salem", "Greenwood", "Union"]
FIRST_NAMES = ["James", "Mary", "John", "Patricia", "Robert", "Linda", "Michael", "Barbara", "William",
               "Elizabeth", "David", "Jennifer", "Richard", "Maria", "Charles", "Susan"]
LAST_NAMES = ["Smith", "Johnson", "Williams", "Jones", "Brown", "Davis", "Miller", "Wilson", "Moore", "Taylor",
              "Anderson", "Thomas", "Jackson", "White", "Harris", "Martin", "Thompson", "Garcia", "Martinez",
              "Robinson"]
STORE_NAMES = ["ought", "able", "pri", "ese", "anti", "cally", "ation", "eing", "bar", "n st"]
EDUCATION = ["Primary", "Secondary", "College", "2 yr Degree", "4 yr Degree", "Advanced Degree", "Unknown"]
DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
# twenty manufacturers, among them the ones the queries' default parameters name (q3: 128, q32: 977, q92: 350)
MANUFACTS = [128, 977, 350, 1, 12, 77, 129, 269, 436, 512, 640, 667, 745, 783, 816, 850, 924, 958, 990, 1000]
ITEMS, MANAGERS = 90, 30
SIZES = ["petite", "small", "medium", "large", "extra large", "economy", "N/A"]
UNITS = ["Ounce", "Oz", "Bunch", "Ton", "N/A", "Dozen", "Box", "Pound", "Pallet", "Gross", "Cup", "Dram", "Each",
         "Tbl", "Lb", "Bundle"]
SHIP_TYPES = ["EXPRESS", "NEXT DAY", "OVERNIGHT", "TWO DAY", "REGULAR", "LIBRARY"]
CARRIERS = ["DHL", "BARIAN", "UPS", "FEDEX", "AIRBORNE", "USPS", "TBS", "ZHOU", "ZOUROS", "MSC", "LATVIAN",
            "ALLIANCE", "ORIENTAL", "BOXBUNDLES", "GREAT EASTERN", "DIAMOND", "RUPEKSA", "GERMA", "HARMSTORF",
            "PRIVATECARRIER"]


def _list(items) -> str:
    return "[" + ", ".join("'" + i.replace("'", "''") + "'" for i in items) + "]"


def _pick(items, seed: str) -> str:
    """One of ``items``, chosen by a hash (DuckDB lists are 1-based)."""
    return f"{_list(items)}[1 + (hash({seed}) % {len(items)})::INTEGER]"


def _money(seed: str, low: int, high: int) -> str:
    """A DECIMAL(7, 2) amount in [low, high)."""
    return f"(({low * 100} + hash({seed}) % {(high - low) * 100}) / 100)::DECIMAL(7, 2)"


def _julian(day: str) -> str:
    """TPC-DS date surrogate key of ``day``: its Julian day number."""
    return f"(2415021 + date_diff('day', DATE '1900-01-01', {day}))::INTEGER"


def _nullable(value: str, seed: str, one_in: int) -> str:
    """``value``, or NULL for about one row in ``one_in`` (TPC-DS leaves some foreign keys NULL)."""
    return f"CASE WHEN hash({seed}) % {one_in} = 0 THEN NULL ELSE {value} END"


def _lines(orders: int, channel: int, mirror: int, customers: int) -> str:
    """The order lines of one sales channel: ``o`` the order (ticket) number, ``n`` the line, ``b`` the basket.

    Order ``o`` is basket ``o`` (the store ticket of that number: same customer, day and items) when ``o`` is
    divisible by ``mirror``, a basket of its own otherwise; store tickets use ``mirror`` 1."""
    holiday = ("make_date(1998 + (hash(b * 13) % 5)::INTEGER, 11, 1) + (hash(b * 17) % 61)::INTEGER")
    return (f"SELECT o, n, b, day, {_julian('day')} AS day_sk, 1 + hash(b * 19) % {customers} AS customer, "
            f"1 + hash(b * 23 + n) % {ITEMS} AS item, ((360 + hash(o * 103 + {channel}) % 960) * 60)::INTEGER AS time_sk, "
            f"{_julian('day')} + (2 + hash(o * 107 + {channel}) % 89)::INTEGER AS ship_sk, 1 + hash(o * 29 + n + {channel}) % 100 AS quantity, "
            f"{_money(f'o * 31 + n + {channel}', 1, 100)} AS wholesale, "
            f"(hash(o * 37 + n + {channel}) % 91) / 100 AS discount, "
            f"(100 + hash(o * 41 + n + {channel}) % 101) / 100 AS markup "
            f"FROM (SELECT o, b, CASE WHEN hash(b * 7) % 3 = 0 THEN {holiday} "
            f"ELSE DATE '1998-01-02' + (hash(b * 11) % 1825)::INTEGER END AS day "
            f"FROM (SELECT o, CASE WHEN o % {mirror} = 0 THEN o ELSE o + {channel * 1_000_003} END AS b "
            f"FROM range(1, {orders + 1}) r(o))), range(1, 6) l(n) WHERE n <= 1 + hash(b * 43) % 5")


def _prices(prefix: str) -> str:
    """List, sales and extended prices, discount, coupon and net profit of a line, as in TPC-DS (cents)."""
    list_price = "round(wholesale * markup, 2)::DECIMAL(7, 2)"
    sales_price = f"round({list_price} * (1 - discount), 2)::DECIMAL(7, 2)"
    coupon = f"CASE WHEN hash(o * 47 + n) % 5 = 0 THEN round(quantity * {sales_price} * 0.1, 2) ELSE 0 END"
    return (f"quantity::INTEGER AS {prefix}_quantity, {list_price} AS {prefix}_list_price, "
            f"{sales_price} AS {prefix}_sales_price, "
            f"(quantity * {list_price})::DECIMAL(7, 2) AS {prefix}_ext_list_price, "
            f"(quantity * {sales_price})::DECIMAL(7, 2) AS {prefix}_ext_sales_price, "
            f"(quantity * ({list_price} - {sales_price}))::DECIMAL(7, 2) AS {prefix}_ext_discount_amt, "
            f"({coupon})::DECIMAL(7, 2) AS {prefix}_coupon_amt, "
            f"(quantity * {sales_price} - {coupon} - quantity * wholesale)::DECIMAL(7, 2) AS {prefix}_net_profit, "
            f"wholesale AS {prefix}_wholesale_cost, (quantity * wholesale)::DECIMAL(7, 2) AS {prefix}_ext_wholesale_cost, "
            f"(quantity * {sales_price} - {coupon})::DECIMAL(7, 2) AS {prefix}_net_paid, "
            f"round(quantity * {sales_price} * 0.07, 2)::DECIMAL(7, 2) AS {prefix}_ext_tax, "
            f"round(quantity * wholesale * 0.05, 2)::DECIMAL(7, 2) AS {prefix}_ext_ship_cost")


def source_sql(tickets: int) -> dict[str, str]:
    """``name -> SELECT`` producing each TPC-DS table for ``tickets`` store tickets (about 3 lines each;
    half as many catalog orders, a quarter as many web orders)."""
    customers, addresses = max(tickets // 12, 60), max(tickets // 8, 80)
    cdemos, hdemos, stores, promos, warehouses = 420, 144, 12, 30, 5
    sites, centers, pages, modes, reasons, catalog_pages = 6, 6, 30, 20, 35, 40
    catalog, web = tickets // 2, tickets // 3
    marital = _pick(["M", "S", "D", "W", "U"], "i * 5")
    first_sale = _julian("DATE '1999-01-01' + (hash(i * 47) % 1000)::INTEGER")
    first_ship = _julian("DATE '1998-06-01' + (hash(i * 53) % 1000)::INTEGER")
    last_review = _julian("DATE '2000-01-01' + (hash(i * 59) % 900)::INTEGER")
    return {
        "date_dim": f"SELECT {_julian('d')} AS d_date_sk, d AS d_date, year(d)::INTEGER AS d_year, "
                    f"month(d)::INTEGER AS d_moy, quarter(d)::INTEGER AS d_qoy, day(d)::INTEGER AS d_dom, "
                    f"((year(d) - 1900) * 12 + month(d) - 1)::INTEGER AS d_month_seq, "
                    f"((date_diff('day', DATE '1900-01-01', d) + 1) // 7 + 1)::INTEGER AS d_week_seq, "
                    f"dayofweek(d)::INTEGER AS d_dow, {_list(DAY_NAMES)}[dayofweek(d) + 1] AS d_day_name, "
                    f"year(d) || 'Q' || quarter(d) AS d_quarter_name "
                    f"FROM (SELECT (DATE '1997-01-01' + i::INTEGER) AS d FROM range(0, 2557) r(i))",
        "item": f"SELECT i AS i_item_sk, 'AAAAAAAA' || lpad(((i + 1) // 2)::VARCHAR, 8, '0') AS i_item_id, "
                f"'item ' || i || ' ' || {_pick(COLOURS, 'i * 3')} AS i_item_desc, "
                f"CASE WHEN hash(i * 5) % 4 = 0 THEN ((50 + hash(i * 7) % 150) / 100) "
                f"ELSE ((200 + hash(i * 7) % 9800) / 100) END::DECIMAL(7, 2) AS i_current_price, "
                f"{_money('i * 29', 0, 60)} AS i_wholesale_cost, "
                f"(cat * 1000000 + (1 + hash(i * 11) % 10) * 1000 + cls)::INTEGER AS i_brand_id, "
                f"{_pick(BRANDS, 'i * 11')} || ' #' || cls AS i_brand, cls::INTEGER AS i_class_id, "
                f"{_list(list(CATEGORIES))}[cat]  AS i_category, cat::INTEGER AS i_category_id, "
                f"classes[cls] AS i_class, "
                f"{MANUFACTS}[1 + i * 7 % {len(MANUFACTS)}] AS i_manufact_id, "
                f"'manufact' || {MANUFACTS}[1 + i * 7 % {len(MANUFACTS)}] AS i_manufact, "
                f"(1 + i * 11 % {MANAGERS})::INTEGER AS i_manager_id, {_pick(COLOURS, 'i * 3')} AS i_color, "
                f"{_pick(SIZES, 'i * 31')} AS i_size, {_pick(UNITS, 'i * 37')} AS i_units, "
                f"'product' || i AS i_product_name "
                f"FROM (SELECT i, cat, classes, (1 + hash(i * 19) % len(classes))::INTEGER AS cls "
                f"FROM (SELECT i, cat, [{', '.join(_list(c) for c in CATEGORIES.values())}][cat] AS classes "
                f"FROM (SELECT i, (1 + hash(i * 23) % {len(CATEGORIES)})::INTEGER AS cat "
                f"FROM range(1, {ITEMS + 1}) r(i))))",
        "customer": f"SELECT i AS c_customer_sk, 'AAAAAAAA' || lpad(i::VARCHAR, 8, '0') AS c_customer_id, "
                    f"{_nullable(f'1 + hash(i * 3) % {cdemos}', 'i * 5', 30)} AS c_current_cdemo_sk, "
                    f"{_nullable(f'1 + hash(i * 7) % {hdemos}', 'i * 11', 30)} AS c_current_hdemo_sk, "
                    f"1 + hash(i * 13) % {addresses} AS c_current_addr_sk, "
                    f"{_pick(['Mr.', 'Mrs.', 'Ms.', 'Dr.', 'Sir', 'Miss'], 'i * 17')} AS c_salutation, "
                    f"{_pick(FIRST_NAMES, 'i * 19')} AS c_first_name, {_pick(LAST_NAMES, 'i * 23')} AS c_last_name, "
                    f"{_pick(['Y', 'N'], 'i * 29')} AS c_preferred_cust_flag, 'login' || i AS c_login, "
                    f"(1 + hash(i * 31) % 12)::INTEGER AS c_birth_month, "
                    f"(1924 + hash(i * 37) % 69)::INTEGER AS c_birth_year, (1 + hash(i * 43) % 28)::INTEGER AS c_birth_day, "
                    f"lower({_pick(FIRST_NAMES, 'i * 19')}) || '.' || lower({_pick(LAST_NAMES, 'i * 23')}) || '@example.com' AS c_email_address, "
                    f"{first_sale} AS c_first_sales_date_sk, {first_ship} AS c_first_shipto_date_sk, "
                    f"{last_review} AS c_last_review_date_sk, "
                    f"{_pick(['UNITED STATES', 'CANADA', 'MEXICO', 'GERMANY', 'JAPAN'], 'i * 41')} AS c_birth_country "
                    f"FROM range(1, {customers + 1}) r(i)",
        "customer_address": f"SELECT i AS ca_address_sk, 'AAAAAAAA' || lpad(i::VARCHAR, 8, '0') AS ca_address_id, "
                            f"(1 + hash(i * 3) % 999)::VARCHAR AS ca_street_number, "
                            f"{_pick(LAST_NAMES, 'i * 5')} AS ca_street_name, "
                            f"{_pick(['Street', 'Ave', 'Blvd', 'Lane', 'Court', 'Way'], 'i * 7')} AS ca_street_type, "
                            f"'Suite ' || (hash(i * 11) % 500) AS ca_suite_number, {_pick(CITIES, 'i * 13')} AS ca_city, "
                            f"{_pick(COUNTIES, 'i * 17')} AS ca_county, {_pick(STATES, 'i * 19')} AS ca_state, "
                            f"{_pick(ZIPS, 'i * 23')} AS ca_zip, 'United States' AS ca_country, "
                            f"(-5 - (hash(i * 29) % 4)::INTEGER)::DECIMAL(5, 2) AS ca_gmt_offset, "
                            f"{_pick(['apartment', 'condo', 'single family'], 'i * 31')} AS ca_location_type "
                            f"FROM range(1, {addresses + 1}) r(i)",
        "customer_demographics": f"SELECT i AS cd_demo_sk, {_pick(['M', 'F'], 'i * 3')} AS cd_gender, "
                                 f"{marital} AS cd_marital_status, {_pick(EDUCATION, 'i * 7')} AS cd_education_status, "
                                 f"(500 * (1 + hash(i * 11) % 20))::INTEGER AS cd_purchase_estimate, "
                                 f"{_pick(['Good', 'High Risk', 'Low Risk', 'Unknown'], 'i * 13')} AS cd_credit_rating, "
                                 f"(hash(i * 17) % 7)::INTEGER AS cd_dep_count, "
                                 f"(hash(i * 19) % 7)::INTEGER AS cd_dep_employed_count, "
                                 f"(hash(i * 23) % 7)::INTEGER AS cd_dep_college_count "
                                 f"FROM range(1, {cdemos + 1}) r(i)",
        "household_demographics": f"SELECT i AS hd_demo_sk, "
                                  f"{_pick(['>10000', '5001-10000', '1001-5000', '501-1000', '0-500', 'Unknown'], 'i * 3')} "
                                  f"AS hd_buy_potential, (hash(i * 5) % 10)::INTEGER AS hd_dep_count, "
                                  f"((hash(i * 7) % 6)::INTEGER - 1) AS hd_vehicle_count, (1 + hash(i * 11) % 20)::INTEGER AS hd_income_band_sk FROM range(1, {hdemos + 1}) r(i)",
        "store": f"SELECT i AS s_store_sk, 'AAAAAAAA' || lpad(((i + 1) // 2)::VARCHAR, 8, '0') AS s_store_id, "
                 f"{_list(STORE_NAMES)}[1 + (i - 1) % {len(STORE_NAMES)}] AS s_store_name, 'Unknown' AS s_company_name, "
                 f"CASE WHEN i % 3 = 0 THEN {_pick(['GA', 'KY', 'CA'], 'i * 3')} ELSE 'TN' END AS s_state, "
                 f"{_pick(COUNTIES[:6], 'i * 5')} AS s_county, {_pick(CITIES, 'i * 7')} AS s_city, "
                 f"{_pick(ZIPS, 'i * 11')} AS s_zip, (-5 - (hash(i * 13) % 2)::INTEGER)::DECIMAL(5, 2) AS s_gmt_offset, "
                 f"(200 + hash(i * 17) % 101)::INTEGER AS s_number_employees, (1 + hash(i * 19) % 10)::INTEGER AS s_market_id, "
                 f"1 AS s_company_id, (1 + hash(i * 23) % 999)::VARCHAR AS s_street_number, "
                 f"{_pick(LAST_NAMES, 'i * 29')} AS s_street_name, {_pick(['Street', 'Ave', 'Blvd', 'Lane'], 'i * 37')} AS s_street_type, 'Suite ' || (hash(i * 31) % 500) AS s_suite_number "
                 f"FROM range(1, {stores + 1}) r(i)",
        "promotion": f"SELECT i AS p_promo_sk, 'AAAAAAAA' || lpad(i::VARCHAR, 8, '0') AS p_promo_id, "
                     f"{_pick(['Y', 'N'], 'i * 3')} AS p_channel_email, {_pick(['Y', 'N'], 'i * 5')} AS p_channel_event, "
                     f"{_pick(['Y', 'N'], 'i * 7')} AS p_channel_dmail, {_pick(['Y', 'N'], 'i * 11')} AS p_channel_tv "
                     f"FROM range(1, {promos + 1}) r(i)",
        "warehouse": f"SELECT i AS w_warehouse_sk, 'Warehouse ' || {_pick(STORE_NAMES, 'i * 3')} || ' ' || i "
                     f"AS w_warehouse_name, {_pick(STATES[:6], 'i * 5')} AS w_state, "
                     f"(50000 + hash(i * 7) % 950000)::INTEGER AS w_warehouse_sq_ft, {_pick(CITIES, 'i * 11')} AS w_city, "
                     f"{_pick(COUNTIES[:6], 'i * 13')} AS w_county, 'United States' AS w_country "
                     f"FROM range(1, {warehouses + 1}) r(i)",
        "store_sales": f"SELECT day_sk AS ss_sold_date_sk, item AS ss_item_sk, "
                       f"{_nullable('customer', 'b * 53', 40)} AS ss_customer_sk, "
                       f"1 + hash(o * 59) % {cdemos} AS ss_cdemo_sk, 1 + hash(o * 61) % {hdemos} AS ss_hdemo_sk, "
                       f"{_nullable(f'1 + hash(o * 67) % {addresses}', 'o * 197', 40)} AS ss_addr_sk, 1 + hash(o * 71) % {stores} AS ss_store_sk, "
                       f"{_nullable(f'1 + hash(o * 73) % {promos}', 'o * 79', 20)} AS ss_promo_sk, "
                       f"o AS ss_ticket_number, time_sk AS ss_sold_time_sk, {_prices('ss')} FROM ({_lines(tickets, 0, 1, customers)})",
        "catalog_sales": f"SELECT day_sk AS cs_sold_date_sk, item AS cs_item_sk, customer AS cs_bill_customer_sk, "
                         f"{_nullable('customer', 'o * 53 + 1', 40)} AS cs_ship_customer_sk, "
                         f"1 + hash(o * 59 + 1) % {cdemos} AS cs_bill_cdemo_sk, "
                         f"1 + hash(o * 67 + 1) % {addresses} AS cs_bill_addr_sk, "
                         f"1 + hash(o * 71 + n + 1) % {warehouses} AS cs_warehouse_sk, "
                         f"1 + hash(o * 73 + 1) % {promos} AS cs_promo_sk, o AS cs_order_number, time_sk AS cs_sold_time_sk, "
                         f"ship_sk AS cs_ship_date_sk, 1 + hash(o * 109 + 1) % {addresses} AS cs_ship_addr_sk, "
                         f"1 + hash(o * 113 + 1) % {centers} AS cs_call_center_sk, "
                         f"1 + hash(o * 127 + 1) % {modes} AS cs_ship_mode_sk, "
                         f"1 + hash(o * 131 + 1) % {catalog_pages} AS cs_catalog_page_sk, "
                         f"1 + hash(o * 137 + 1) % {hdemos} AS cs_bill_hdemo_sk, "
                         f"{_prices('cs')} FROM ({_lines(catalog, 1, 3, customers)})",
        "web_sales": f"SELECT day_sk AS ws_sold_date_sk, item AS ws_item_sk, customer AS ws_bill_customer_sk, "
                     f"1 + hash(o * 67 + 2) % {addresses} AS ws_bill_addr_sk, o AS ws_order_number, time_sk AS ws_sold_time_sk, "
                     f"ship_sk AS ws_ship_date_sk, {_nullable('customer', 'o * 53 + 2', 40)} AS ws_ship_customer_sk, "
                     f"1 + hash(o * 109 + 2) % {addresses} AS ws_ship_addr_sk, "
                     f"1 + hash(o * 113 + 2) % {sites} AS ws_web_site_sk, 1 + hash(o * 139 + 2) % {pages} AS ws_web_page_sk, "
                     f"1 + hash(o * 127 + 2) % {modes} AS ws_ship_mode_sk, "
                     f"1 + hash(o * 71 + n) % {warehouses} AS ws_warehouse_sk, "
                     f"1 + hash(o * 73 + 2) % {promos} AS ws_promo_sk, 1 + hash(o * 137 + 2) % {hdemos} AS ws_ship_hdemo_sk, "
                     f"1 + hash(o * 59 + 2) % {cdemos} AS ws_bill_cdemo_sk, "
                     f"{_prices('ws')} FROM ({_lines(web, 2, 5, customers)})",
        "store_returns": f"SELECT day_sk + (1 + hash(o * 83 + n) % 60)::INTEGER AS sr_returned_date_sk, "
                         f"item AS sr_item_sk, {_nullable('customer', 'b * 53', 40)} AS sr_customer_sk, "
                         f"1 + hash(o * 71) % {stores} AS sr_store_sk, o AS sr_ticket_number, "
                         f"{_money('o * 89 + n', 1, 2000)} AS sr_return_amt, {_money('o * 97 + n', 0, 100)} AS sr_fee, "
                         f"(1 + hash(o * 149 + n) % quantity)::INTEGER AS sr_return_quantity, "
                         f"{_money('o * 151 + n', 1, 500)} AS sr_net_loss, 1 + hash(o * 157 + n) % {reasons} AS sr_reason_sk, "
                         f"1 + hash(o * 59) % {cdemos} AS sr_cdemo_sk, "
                         f"((360 + hash(o * 163 + n) % 960) * 60)::INTEGER AS sr_return_time_sk "
                         f"FROM ({_lines(tickets, 0, 1, customers)}) WHERE hash(o * 101 + n) % 8 = 0",
        "catalog_returns": f"SELECT day_sk + (1 + hash(o * 83 + n) % 60)::INTEGER AS cr_returned_date_sk, "
                           f"item AS cr_item_sk, o AS cr_order_number, customer AS cr_returning_customer_sk, "
                           f"1 + hash(customer * 13) % {addresses} AS cr_returning_addr_sk, "
                           f"{_money('o * 89 + n', 1, 2000)} AS cr_return_amt_inc_tax, "
                           f"{_money('o * 97 + n', 0, 500)} AS cr_refunded_cash, "
                           f"(1 + hash(o * 149 + n) % quantity)::INTEGER AS cr_return_quantity, "
                           f"{_money('o * 167 + n', 1, 1500)} AS cr_return_amount, {_money('o * 151 + n', 1, 500)} AS cr_net_loss, "
                           f"{_money('o * 173 + n', 0, 300)} AS cr_reversed_charge, {_money('o * 179 + n', 0, 300)} AS cr_store_credit, "
                           f"1 + hash(o * 113 + 1) % {centers} AS cr_call_center_sk, "
                           f"1 + hash(o * 131 + 1) % {catalog_pages} AS cr_catalog_page_sk, "
                           f"1 + hash(o * 157 + n) % {reasons} AS cr_reason_sk "
                           f"FROM ({_lines(catalog, 1, 3, customers)}) WHERE hash(o * 101 + n) % 6 = 0",
        "web_returns": f"SELECT day_sk + (1 + hash(o * 83 + n) % 60)::INTEGER AS wr_returned_date_sk, "
                       f"item AS wr_item_sk, o AS wr_order_number, customer AS wr_returning_customer_sk, "
                       f"customer AS wr_refunded_customer_sk, "
                       f"1 + hash(customer * 13) % {addresses} AS wr_returning_addr_sk, "
                       f"1 + hash(o * 181 + n) % {addresses} AS wr_refunded_addr_sk, "
                       f"1 + hash(o * 59 + 2) % {cdemos} AS wr_refunded_cdemo_sk, "
                       f"CASE WHEN hash(o * 191 + n) % 4 = 0 THEN 1 + hash(o * 199 + n) % {cdemos} ELSE 1 + hash(o * 59 + 2) % {cdemos} END "
                       f"AS wr_returning_cdemo_sk, "
                       f"1 + hash(o * 139 + 2) % {pages} AS wr_web_page_sk, 1 + hash(o * 157 + n) % {reasons} AS wr_reason_sk, "
                       f"(1 + hash(o * 149 + n) % quantity)::INTEGER AS wr_return_quantity, "
                       f"{_money('o * 89 + n', 1, 2000)} AS wr_return_amt, {_money('o * 151 + n', 1, 500)} AS wr_net_loss, "
                       f"{_money('o * 97 + n', 0, 100)} AS wr_fee, {_money('o * 193 + n', 0, 500)} AS wr_refunded_cash "
                       f"FROM ({_lines(web, 2, 5, customers)}) WHERE hash(o * 101 + n) % 5 = 0",
        "time_dim": "SELECT m * 60 AS t_time_sk, m * 60 AS t_time, (m // 60)::INTEGER AS t_hour, "
                    "(m % 60)::INTEGER AS t_minute, 0 AS t_second, CASE WHEN m < 720 THEN 'AM' ELSE 'PM' END AS t_am_pm, "
                    "CASE WHEN m // 60 BETWEEN 6 AND 8 THEN 'breakfast' WHEN m // 60 BETWEEN 11 AND 13 THEN 'lunch' "
                    "WHEN m // 60 BETWEEN 17 AND 19 THEN 'dinner' END AS t_meal_time FROM range(0, 1440) r(m)",
        "ship_mode": f"SELECT i AS sm_ship_mode_sk, 'AAAAAAAA' || lpad(i::VARCHAR, 8, '0') AS sm_ship_mode_id, "
                     f"{_list(SHIP_TYPES)}[1 + (i - 1) % {len(SHIP_TYPES)}] AS sm_type, "
                     f"{_list(CARRIERS)}[i] AS sm_carrier, 'CODE' || i AS sm_code FROM range(1, {modes + 1}) r(i)",
        "web_site": f"SELECT i AS web_site_sk, 'AAAAAAAA' || lpad(i::VARCHAR, 8, '0') AS web_site_id, "
                    f"'site_' || (i - 1) // 2 AS web_name, {_pick(STORE_NAMES[:4], 'i * 3')} AS web_company_name "
                    f"FROM range(1, {sites + 1}) r(i)",
        "call_center": f"SELECT i AS cc_call_center_sk, 'AAAAAAAA' || lpad(i::VARCHAR, 8, '0') AS cc_call_center_id, "
                       f"{_list(['NY Metro', 'Mid Atlantic', 'North Midwest', 'Pacific Northwest', 'California', 'Hawaii/Alaska'])}[i] AS cc_name, "
                       f"{_pick(FIRST_NAMES, 'i * 5')} || ' ' || {_pick(LAST_NAMES, 'i * 7')} AS cc_manager, "
                       f"{_pick(['small', 'medium', 'large'], 'i * 11')} AS cc_class, {_pick(COUNTIES[:6], 'i * 13')} AS cc_county "
                       f"FROM range(1, {centers + 1}) r(i)",
        "web_page": f"SELECT i AS wp_web_page_sk, (1000 + hash(i * 3) % 7000)::INTEGER AS wp_char_count "
                    f"FROM range(1, {pages + 1}) r(i)",
        "reason": f"SELECT i AS r_reason_sk, 'reason ' || i AS r_reason_desc FROM range(1, {reasons + 1}) r(i)",
        "income_band": "SELECT i AS ib_income_band_sk, ((i - 1) * 10000 + 1)::INTEGER AS ib_lower_bound, "
                       "(i * 10000)::INTEGER AS ib_upper_bound FROM range(1, 21) r(i)",
        "catalog_page": f"SELECT i AS cp_catalog_page_sk, 'AAAAAAAA' || lpad(i::VARCHAR, 8, '0') AS cp_catalog_page_id "
                        f"FROM range(1, {catalog_pages + 1}) r(i)",
        "inventory": f"SELECT {_julian('d')} AS inv_date_sk, i AS inv_item_sk, w AS inv_warehouse_sk, "
                     f"(hash(i * 7 + w * 11 + k) % 1000 * (hash(i * 13 + w * 17 + k) % 2))::INTEGER AS inv_quantity_on_hand "
                     f"FROM (SELECT k, DATE '2000-01-03' + 14 * k::INTEGER AS d FROM range(0, 53) r(k)), "
                     f"range(1, {ITEMS + 1}) s(i), range(1, {warehouses + 1}) t(w) WHERE (i + w) % 2 = 0",
    }


def query_statements() -> list[tuple[str, str]]:
    """(name, ``CREATE VIEW`` statement) of the queries, in file order."""
    from ivm.plan.parse import parse_views

    return [(v.name, f"CREATE VIEW {v.name} AS {v.sql}") for v in parse_views(QUERIES.read_text())]


def load(db, tickets: int) -> None:
    import duckdb

    maker = duckdb.connect()
    db.load_many([(name, maker.sql(sql).to_arrow_table()) for name, sql in source_sql(tickets).items()])
    maker.close()


if __name__ == "__main__":
    import ivm

    with ivm.connect(sys.argv[1]) as database:
        load(database, int(sys.argv[2]) if len(sys.argv) > 2 else 3000)
        for name in database.deploy(QUERIES.read_text()):
            print(name, "|", database.explain(name).splitlines()[0])
