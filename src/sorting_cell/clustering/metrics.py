"""Clustering scores, all invariant to how cluster labels are numbered."""
