"""archzoo.embed: queries of trained word embeddings (word2vec runs).

`load_embeddings(run_dir)` -> `Embeddings`, whose `similar(word, k)` and `analogy(a, b, c, k)` rank
the vocabulary by cosine similarity of unit-length input vectors (Mikolov et al. 2013, arXiv:1301.3781:
"a is to b as c is to ?" is answered by the word nearest b - a + c, the three query words excluded).
"""
from ._query import Embeddings, load_embeddings

__all__ = ["Embeddings", "load_embeddings"]
