import pytest

from medmllm.data.dataset import ManifestDataset
from medmllm.data.schema import new_record, write_manifest
from medmllm.errors import InputError


def test_variants_filter_keeps_only_listed_meta_variants(tmp_path):
    recs = [new_record(id=f"r{i}", split="train", task="report",
                       messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                       meta={"variant": v}) for i, v in enumerate(["report-xray", "report-both", "report-both-context"])]
    m = tmp_path / "m.jsonl"
    write_manifest(m, recs)
    ds = ManifestDataset.from_manifest(m, {}, split="train", tasks=["report"], variants=["report-both"])
    assert [r["id"] for r in ds.records] == ["r1"]
    assert len(ManifestDataset.from_manifest(m, {}, split="train")) == 3
    with pytest.raises(InputError, match="variant in \\['nope'\\]"):
        ManifestDataset.from_manifest(m, {}, variants=["nope"])
