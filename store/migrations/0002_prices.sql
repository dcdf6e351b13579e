-- BTC prices in fiat, as integer cents (hundredths of the currency unit),
-- fetched from a configured source; the dashboard reads them, never the
-- source.
CREATE TABLE prices (
    currency    TEXT    NOT NULL,
    time        INTEGER NOT NULL, -- the price's own time, Unix seconds
    price_cents INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    fetched_at  INTEGER NOT NULL, -- Unix seconds
    PRIMARY KEY (currency, time)
) STRICT;
