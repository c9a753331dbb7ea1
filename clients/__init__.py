"""Flower client side: the ClientApp adapting Flower messages to
:class:`fedforget.client.ClientWorker` (which holds the private data and forget set)."""
