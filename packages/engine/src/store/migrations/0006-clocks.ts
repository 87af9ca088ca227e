import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Wrong clocks (docs/architecture.md, "Clocks").
 *
 * `peer_clocks`: each peer's clock offset from this device's, newest estimate per peer, from the
 * wall clocks the handshake carries. Local bookkeeping, never synced: `status` shows it and
 * `doctor` names a clock beyond the max drift. `round_trip_ms` is NULL for an estimate made one
 * way (when the peer pulled from this device), which is off by the one-way latency.
 *
 * `library_identity.hlc_ceiling`: no version held here is above it except this device's own
 * stamps. Until now every applied stamp was adopted by the clock, so the floor is one.
 */
export class Clocks1733100000000 implements MigrationInterface {
  name = 'Clocks1733100000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE TABLE peer_clocks (
      peer_device_id TEXT PRIMARY KEY NOT NULL,
      offset_ms INTEGER NOT NULL,
      round_trip_ms INTEGER,
      measured_at_ms INTEGER NOT NULL
    )`);
    await runner.query(
      `ALTER TABLE library_identity ADD COLUMN hlc_ceiling TEXT NOT NULL DEFAULT '0000000000000000'`,
    );
    await runner.query('UPDATE library_identity SET hlc_ceiling = hlc_floor');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('ALTER TABLE library_identity DROP COLUMN hlc_ceiling');
    await runner.query('DROP TABLE peer_clocks');
  }
}
