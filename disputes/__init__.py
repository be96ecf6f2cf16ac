"""Dispute understanding shared by search, the graph and the web: 纠纷要素, handling methods, type prediction."""
