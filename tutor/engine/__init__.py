"""The engines: a validated network becomes step records, symbolically (SymPy) and numerically (NumPy).

``symbolic`` derives every local form once per kind and binds it to each neuron; ``numeric`` runs BP1-BP4
on arrays and never imports SymPy; ``training`` runs optimizers over epochs and batches; ``steps`` holds the
records that renderers read; ``gradcheck`` compares the engines with each other and with finite
differences; ``views`` computes the matrix, path and magnitude views. No engine imports Jinja2.
"""
