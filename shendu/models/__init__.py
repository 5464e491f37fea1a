"""``shendu.models``: whole models built from ``shendu.nn`` (one file per model family)."""
from shendu.models.bert import (
    BertConfig,
    BertForMaskedLM,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    mean_pooling,
)
from shendu.models.charrnn import CharRNN, CharRNNConfig
from shendu.models.gpt import GPT, GPTConfig, KVCache
from shendu.models.outputs import ModelOutput
from shendu.models.recursive import RecursiveNN, TreeBatch
from shendu.models.seq2seq import Seq2Seq, Translation
from shendu.models.xlnet import XLNetConfig, XLNetLMHeadModel, XLNetModel, permutation_lm_loss, sample_permutation_lm

__all__ = ["BertConfig", "BertForMaskedLM", "BertForNextSentencePrediction", "BertForPreTraining",
           "BertForQuestionAnswering", "BertForSequenceClassification", "BertForTokenClassification", "BertModel",
           "mean_pooling", "ModelOutput",
           "CharRNN", "CharRNNConfig", "GPT", "GPTConfig", "KVCache", "RecursiveNN", "Seq2Seq", "Translation",
           "TreeBatch", "XLNetConfig", "XLNetLMHeadModel", "XLNetModel", "permutation_lm_loss",
           "sample_permutation_lm"]
