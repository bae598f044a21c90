import { describe, expect, it } from 'vitest';
import { loadMigrations } from '../../src/db/migrate.js';

/**
 * Every landed migration, pinned by checksum. A landed migration is never edited: a database that
 * applied it would be refused at its next start. A new migration adds its line here when it lands.
 */
const LANDED: Record<string, string> = {
  '0001_init': '7d4fd7f5ade9721fdfc2e3cecf558e5c4ccf5cff9f4ffc13b41a16254a664c87',
  '0002_create_task_function': '95499f095ce97985f6bcd7e4652aec52d3cb777fd6d0133c4654a1f2ef818da2',
  '0003_end_and_claim_task_functions': 'c0a5e19034aa68df8696553b18989b0ebfc9ddc5bd64e29628bf2224ad3110ba',
  '0004_files': 'fdd0ba99adbd649a0f80f4f784ad9d87b56b0562a58b07495d13a1527cdf7680',
  '0005_provider_hand_over': '6c858f10ee3c8d5a4303482be71b6d151749e16d035071abbed6620b10e8ad30',
  '0006_task_status_totals': 'a06efb658abd3e59aa6d1dcc76d2b2bf3c1b260f0d7df03884c2d7b49dc9d4f6',
  '0007_event_log': 'e93054475c915dd51122563d48413735abb8a3a10ae3845a9330523a7bd5056e',
  '0008_webhooks': 'f999c251ffbb209297d50474d1f7d2d951cb005dc566f888e17de00a2b8a246e',
  '0009_api_key_listing': 'c8535b295288cb0891eb69b44c4c40e206e0ea5410c604649a99f8277fa938a2',
  '0010_webhook_streaks_and_older_secrets': 'a3251140a1804e173eb2c773b6ef216c0e4924da125e0be1ca9bdd43c4abe394',
  '0011_console_sessions': '6d7ccbdb75c9ec32dc79ba055ca8c54a241d2ca0859bf2a369e2106a89e33795',
  '0012_live_view': 'a2beb2934c66a46fbaf0c1ec53ecf800bcc8e59871750b36e6779ec121965540',
};

describe('landed migrations', () => {
  it('are unchanged, numbered without gaps, and each one is pinned here', async () => {
    const migrations = await loadMigrations();
    const actual = Object.fromEntries(migrations.map((m) => [`${String(m.version).padStart(4, '0')}_${m.name}`, m.checksum]));
    expect(actual).toEqual(LANDED);
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, index) => index + 1));
  });
});
