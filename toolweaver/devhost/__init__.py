"""A local stand-in for the Azure Functions host (``func start``) and the Azurite launcher.

``python -m toolweaver.devhost`` serves ``function_app.py``; the programmatic API is
``toolweaver.devhost.host.DevHost`` and ``toolweaver.devhost.host.run_in_thread``. Nothing is imported
here, so ``toolweaver.devhost.azurite`` stays light.
"""
