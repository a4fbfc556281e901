from medmllm.models.llm import read_corpus, train_tokenizer


def test_synthetic_corpus_is_text_only_deterministic_and_trains_a_compact_tokenizer():
    spec = {"synthetic": {"cases": 60, "seed": 3, "langs": ["en"], "tasks": ["report"]}}
    a, b = read_corpus(spec), read_corpus(spec)
    assert a == b
    reports = [t for t in a if t.startswith("Findings:")]
    assert len(reports) >= 60  # at least one report conversation per case
    generic = train_tokenizer(read_corpus(None), vocab_size=512)
    fitted = train_tokenizer(a, vocab_size=512)
    held_out = [t for t in read_corpus({"synthetic": {"cases": 20, "seed": 99, "langs": ["en"], "tasks": ["report"]}})
                if t.startswith("Findings:")]
    n_generic = sum(len(generic(t)["input_ids"]) for t in held_out)
    n_fitted = sum(len(fitted(t)["input_ids"]) for t in held_out)
    assert n_fitted < 0.85 * n_generic, (n_fitted, n_generic)
