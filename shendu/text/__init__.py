"""``shendu.text``: text for sequence models: decoding (greedy and beam search) and corpora.

``decoding`` is generic over a step function ``step(tokens, state) -> (log_probs, state)``;
``corpus``: the stdlib or a file as a character corpus, saved vocabularies, and contiguous batch
streams for truncated backpropagation through time (``StreamBatches``).
"""
from shendu.text.corpus import StreamBatches, load_corpus, load_vocab, save_vocab
from shendu.text.decoding import GreedyOutput, Hypothesis, beam_search, greedy_search, length_penalty

__all__ = ["GreedyOutput", "Hypothesis", "StreamBatches", "beam_search", "greedy_search", "length_penalty",
           "load_corpus", "load_vocab", "save_vocab"]
