"""The faces: the ``wsdat`` command, the live table and the conversation view, service files, replay, the plugin
scaffold and the pytest plugin. They use the library's public API and hold no logic the library should own."""
