import pytest

from demo_service.pricing import Line, quote

CART = [Line(f"sku-{i}", 199 + i, 1 + i % 3) for i in range(50)]


def test_quote_includes_tax():
    assert quote([Line("a", 1000, 2)], "DE") == 2380


def test_unknown_country_is_a_key_error():
    with pytest.raises(KeyError):  # caught on purpose: never a "new error type"
        quote(CART, "XX")


def test_quote_speed(perf):
    # "API p95 < 5 ms": the samples are also tracked against the committed baseline.
    stats = perf.measure(quote, CART, "FR", rounds=200, p95=0.005)
    assert stats.rounds == 200


@pytest.mark.regression(tolerance=1.0)
def test_bulk_quotes():
    for country in ("DE", "FR", "US"):
        quote(CART * 20, country)
