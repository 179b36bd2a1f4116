-- Count flows and report the total when mitmc exits (mitmproxy's examples/addons/anatomy.py,
-- with the summary of examples/addons/shutdown.py's done hook).
--
--   mitmc dump -s examples/count-flows.lua
--
-- Flow hooks run on the worker threads, one Lua state each; done runs on the main thread.
-- The count they share lives in mitm.shared.

return {
    request = function(flow)
        local n = mitm.shared.incr("count-flows.seen")
        mitm.log.info(string.format("We've seen %d flows", n))
    end,

    done = function()
        mitm.log.info(string.format("Total: %d flows", mitm.shared.get("count-flows.seen") or 0))
    end,
}
