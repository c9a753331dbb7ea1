"""Flower client side: the ClientApp adapting Flower messages to
:class:`fedforget.client.worker.ClientWorker` (which holds the private data and forget set)."""
