"""voila_apps/kernel_reaper.py: a page's kernel without a connection is shut down.

Real kernels in a real jupyter_server kernel manager; the reaper's clock is the test's,
so nothing waits for the timeout.
"""

from __future__ import annotations

import asyncio

import pytest
from traitlets.config import Config

from voila_apps.kernel_reaper import EXTENSION, PageKernelReaper, configure_page_kernel_reaper


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_disconnected_page_kernels_go_connected_and_session_kernels_stay(tmp_path):
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

    async def scenario():
        km = AsyncMappingKernelManager(root_dir=str(tmp_path), connection_dir=str(tmp_path))
        closed = await km.start_kernel(kernel_name="python3")  # its page was closed
        open_ = await km.start_kernel(kernel_name="python3")  # its page is open
        notebook = await km.start_kernel(kernel_name="python3")  # JupyterLab's notebook
        km.notify_connect(open_)
        clock = Clock()

        async def sessions():
            return [notebook]

        reaper = PageKernelReaper(km, sessions, clock=clock, disconnected_timeout=60)
        try:
            assert await reaper.reap_once() == []  # first seen alone: the clock starts
            clock.now += 59
            assert await reaper.reap_once() == []  # a reconnecting page has a minute
            clock.now += 2
            assert await reaper.reap_once() == [closed]
            assert set(km.list_kernel_ids()) == {open_, notebook}
            # the open page closes: its kernel goes a timeout later, not at once
            km.notify_disconnect(open_)
            assert await reaper.reap_once() == []
            clock.now += 30
            km.notify_connect(open_)  # ... unless it reconnects meanwhile
            clock.now += 60
            assert await reaper.reap_once() == []
            km.notify_disconnect(open_)
            await reaper.reap_once()
            clock.now += 61
            assert await reaper.reap_once() == [open_]
            assert km.list_kernel_ids() == [notebook]
            assert reaper.reaped == 2
        finally:
            await km.shutdown_all()

    asyncio.run(scenario())


def test_configuration_enables_the_extension_with_the_switch():
    c = Config()
    assert configure_page_kernel_reaper(c, {}) == 60
    assert c.PageKernelReaper.disconnected_timeout == 60
    assert c.PageKernelReaper.interval == 15
    c = Config()
    configure_page_kernel_reaper(c, {"GSP_PAGE_KERNEL_TIMEOUT": "20"})
    assert c.PageKernelReaper.interval == 5

    from jupyter_server.serverapp import ServerApp

    assert ServerApp(config=c).jpserver_extensions[EXTENSION] is True
    off = Config()
    configure_page_kernel_reaper(off, {"GSP_PAGE_KERNEL_TIMEOUT": "0"})
    assert ServerApp(config=off).jpserver_extensions[EXTENSION] is False


@pytest.mark.parametrize("raw", ["soon", "-5", "nan"])
def test_a_bad_switch_says_what_would_be_right(raw):
    with pytest.raises(ValueError, match="GSP_PAGE_KERNEL_TIMEOUT=.*number of seconds >= 0"):
        configure_page_kernel_reaper(Config(), {"GSP_PAGE_KERNEL_TIMEOUT": raw})
