// Package epoll is the part of an event loop that the comet's pollers, the gateway's event
// loops and the fan-out bench's readers share: an epoll set whose registrations each carry a
// 64-bit id of their owner's choosing, and a wake-up that makes Wait return with the id Woken
// (an eventfd in the set). The set is Linux's; elsewhere the package holds this constant only.
package epoll

// Woken is the id of the set's wake-up; no registration may use it.
const Woken = 1<<64 - 1
