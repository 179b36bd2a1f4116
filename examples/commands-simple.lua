-- Add a custom command (mitmproxy's examples/addons/commands-simple.py). Commands run on
-- the main thread; mitm.command calls any command by name.
--
--   mitmc dump -s examples/commands-simple.lua

local num = 0

return {
    load = function(loader)
        loader:add_command("myaddon.inc", function()
            num = num + 1
            mitm.log.info(string.format("num = %d", num))
        end)
    end,

    running = function()
        mitm.command("myaddon.inc")
    end,
}
