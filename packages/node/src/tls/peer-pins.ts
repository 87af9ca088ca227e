import { TidemarkError } from '@tidemark/engine';

/**
 * The device each dialed address is pinned to: the first member whose certificate served a call
 * there. Every later call to the address must be served by that same device, so a member that
 * takes over another member's address (a restarted machine, a reused port, a hostile member on
 * the LAN) cannot pose as it, even though its certificate is a trusted one. Held for the life of
 * the dialing process; a pin on a device that leaves the library is dropped with `forget`.
 */
export class PeerPins {
  private readonly byAddress = new Map<string, string>();

  /** The device `address` is pinned to, if any call there was served yet. */
  pinOf(address: string): string | undefined {
    return this.byAddress.get(address);
  }

  /** Pins `address` to `deviceId` on first sight; throws UNAUTHENTICATED when pinned to another. */
  check(address: string, deviceId: string): void {
    const pinned = this.byAddress.get(address);
    if (pinned === undefined) {
      this.byAddress.set(address, deviceId);
      return;
    }
    if (pinned !== deviceId) {
      throw new TidemarkError(
        'UNAUTHENTICATED',
        `peer ${address} is device ${pinned}, but the connection that answered presented the certificate ` +
          `of device ${deviceId}; another member may have taken over the address. If members swapped ` +
          'addresses (a new DHCP lease), restart this process: an address stays pinned to the first ' +
          'device that served it for as long as the process runs',
      );
    }
  }

  /** Drops the pins on devices that are no longer members (their certificates are refused anyway). */
  forget(deviceIds: readonly string[]): void {
    const gone = new Set(deviceIds);
    for (const [address, deviceId] of this.byAddress) if (gone.has(deviceId)) this.byAddress.delete(address);
  }
}
