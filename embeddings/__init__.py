"""Text preparation (normalisation, jieba with the mediation dictionary), the sentence encoder and the embedding cache."""
