import json

from demo_service.storage import load_snapshot, save_snapshot

ORDERS = {"orders": [{"id": i, "total": 100 + i, "items": ["a", "b"]} for i in range(200)]}


def test_round_trip(tmp_path):
    save_snapshot(tmp_path, "orders", ORDERS)
    assert load_snapshot(tmp_path, "orders") == ORDERS


def test_snapshot_size(tmp_path, gate_metric):
    path = save_snapshot(tmp_path, "orders", ORDERS)
    # A size is machine-independent: 10% growth holds the release.
    gate_metric("snapshot_bytes", path.stat().st_size, tolerance=0.1)


def test_save_touches_only_its_file(tmp_path, integrity):
    (tmp_path / "keep.json").write_text(json.dumps({"keep": True}))
    with integrity.watch(tmp_path, patterns=["*.json"]) as changes:
        save_snapshot(tmp_path, "orders", ORDERS)
    assert changes.added == ["orders.json"]
    assert not changes.modified and not changes.removed
