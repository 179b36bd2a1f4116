-- Use mitmproxy's filter language in scripts (mitmproxy's examples/addons/filter-flows.py).
--
--   mitmc dump -s examples/filter-flows.lua --set flowfilter='~d example.com'
--
-- configure runs in every Lua state (the main thread's and each worker's), so each one
-- compiles the filter it uses.

local filter

return {
    load = function(loader)
        loader:add_option("flowfilter", "str", "~d example.com", "Check that flow matches filter.")
    end,

    configure = function(updated)
        if updated.flowfilter then
            filter = mitm.filter(mitm.options.flowfilter)
        end
    end,

    response = function(flow)
        if filter:match(flow) then
            mitm.log.info("Flow matches filter:")
            mitm.log.info(tostring(flow.request) .. " -> " .. tostring(flow.response))
        end
    end,
}
