---@meta async.udp

local async = {}

---Where a datagram goes: `{host=, port=}` (host an IP address or a host
---name, 127.0.0.1 by default), the `from` table `onmessage` gives
---(`{address=, port=}`), or a URL string `'udp://host:port'`.
---@alias async.udp.Destination {host?: string, address?: string, port: integer|string}|string

---Where `udp.bind` binds: `{host=, port=, reuseAddr=}` or `'udp://host:port'`.
---@class async.udp.BindOptions
---@field host? string an IP address or a host name (default `0.0.0.0`)
---@field port? integer|string the port; 0 lets the system pick one
---@field reuseAddr? boolean SO_REUSEADDR (several sockets on one port, for multicast)

---A UDP socket: sends and receives datagrams.
---@class async.UdpSocket: async.Handle
---@field sockname async.SocketAddress? the address bound (nil while its host name is looked up)
---@field send fun(data: string|async.Buffer|(string|async.Buffer)[], to: async.udp.Destination, cb?: fun(err: string?)): boolean sends one datagram; `cb(err)` once sent
---@field onmessage fun(cb?: fun(data: string, from: async.SocketAddress)) `cb(data, from)` per datagram; nil stops receiving
---@field onerr fun(cb?: fun(err: string)) errors no send callback takes (else they go to stderr)
---@field close fun(cb?: fun()) closes the socket; `cb()` once closed
---@field onclose fun(cb?: fun()) `cb()` once closed
---@field setBroadcast fun(on?: boolean): boolean SO_BROADCAST
---@field setTTL fun(hops: integer): boolean the unicast TTL, 1 to 255
---@field setMulticastTTL fun(hops: integer): boolean the multicast TTL, 0 to 255
---@field setMulticastLoopback fun(on?: boolean): boolean whether this host's members get what it sends to a group
---@field setMulticastInterface fun(address: string): boolean the interface multicast datagrams leave from
---@field addMembership fun(group: string, interface?: string): boolean joins a multicast group
---@field dropMembership fun(group: string, interface?: string): boolean leaves a multicast group

---`require 'async.udp'`.
---@class async.udp
async.udp = {}

---A UDP socket bound to `domain` (port 0: one the system picks). An IP literal is bound at once (an error is raised); a host
---name is looked up first, and a failure goes to `onerr` (or stderr) and
---closes the socket.
---@param domain async.udp.BindOptions|string
---@return async.UdpSocket
function async.udp.bind(domain) end

return async.udp
