"""``shendu.text``: text for sequence models: decoding (greedy and beam search) and corpora.

``bpe``: ``ByteLevelBPETokenizer`` (GPT-2's byte-level BPE: train, encode, decode, save, from_file);
``CharTokenizer`` (from ``shendu.data.datasets.text``) is re-exported here too.
``wordpiece``: ``BertTokenizer`` and ``WordPieceTrainer``; ``gpt2``: ``GPT2Tokenizer`` (Hugging Face's ids
and ``__call__``, over ``encoding``'s shared truncation/padding); ``masking``: the masked-LM collator
(80/10/10, whole-word) and next-sentence pairs.
``decoding`` is generic over a step function ``step(tokens, state) -> (log_probs, state)``;
``instructions``: the built-in instruction set, the chat template and loss-masked SFT batches;
``corpus``: the stdlib or a file as a character corpus, saved vocabularies, and contiguous batch
streams for truncated backpropagation through time (``StreamBatches``).
"""
from shendu.data.datasets.text import CharTokenizer
from shendu.text.bpe import ByteLevelBPETokenizer
from shendu.text.corpus import StreamBatches, load_corpus, load_vocab, save_vocab
from shendu.text.decoding import GreedyOutput, Hypothesis, beam_search, greedy_search, length_penalty
from shendu.text.encoding import BatchEncoding
from shendu.text.gpt2 import GPT2Tokenizer
from shendu.text.instructions import (
    build_sft_batch,
    format_chat,
    format_conversation,
    load_instructions,
    special_tokens,
    split_instructions,
)
from shendu.text.masking import DataCollatorForLanguageModeling, NextSentencePairs, make_nsp_pairs
from shendu.text.wordpiece import BertTokenizer, WordPieceTrainer

__all__ = ["ByteLevelBPETokenizer", "CharTokenizer", "GreedyOutput", "Hypothesis", "StreamBatches", "beam_search",
           "greedy_search", "length_penalty", "load_corpus", "load_vocab", "save_vocab", "build_sft_batch",
           "format_chat", "format_conversation", "load_instructions", "special_tokens", "split_instructions",
           "BatchEncoding", "BertTokenizer", "DataCollatorForLanguageModeling", "GPT2Tokenizer", "NextSentencePairs",
           "WordPieceTrainer", "make_nsp_pairs"]
