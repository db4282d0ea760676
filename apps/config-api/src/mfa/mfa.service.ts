import { Injectable } from '@nestjs/common';
import {
  checkConfigurationRules,
  ConcurrentModificationError,
  ConfigAlreadyExistsError,
  MfaConfigRecord,
  MfaConfigRepository,
  MfaConfigSealer,
  MfaConfiguration,
  MfaType,
  withoutUndefined,
} from '@lib/mfa-config';
import { ApiError } from '../errors/api-error';
import { OutboxRelay } from '../outbox/outbox-relay';
import type { CreateMfaDto } from './dto/create-mfa.dto';
import type { UpdateMfaDto } from './dto/update-mfa.dto';
import { MfaConfigResponse, presentMfaConfig } from './mfa-config.presenter';

/** Creates, reads, changes and deletes a tenant's MFA configuration; every change leaves an event for the relay. */
@Injectable()
export class MfaService {
  constructor(
    private readonly repository: MfaConfigRepository,
    private readonly sealer: MfaConfigSealer,
    private readonly relay: OutboxRelay,
  ) {}

  async create(tenant: string, dto: CreateMfaDto): Promise<MfaConfigResponse> {
    refuseNulls(dto, []);
    const config: MfaConfiguration = {
      enabled: dto.enabled,
      provider: dto.provider,
      type: dto.type,
      is_custom: dto.is_custom,
      settings: {
        enabled_clients: dto.settings.enabled_clients,
        strategy: dto.settings.strategy ?? 'code',
        apns: dto.settings.apns && { ...dto.settings.apns, production: dto.settings.apns.production ?? true },
        fcm: dto.settings.fcm,
      },
    };
    const state = this.sealer.seal(tenant, this.checked(config));
    try {
      return presentMfaConfig(this.written(await this.repository.create(tenant, config.type, state)));
    } catch (error) {
      if (error instanceof ConfigAlreadyExistsError)
        throw new ApiError(
          409,
          'conflict',
          `A ${config.type} configuration already exists for this tenant; change it with PATCH /mfa/${config.type}.`,
        );
      throw error;
    }
  }

  async list(
    tenant: string,
    limit: number,
    offset: number,
  ): Promise<{ total: number; results: MfaConfigResponse[] }> {
    const { total, results } = await this.repository.listLive(tenant, limit, offset);
    return { total, results: results.map(presentMfaConfig) };
  }

  async get(tenant: string, type: MfaType): Promise<MfaConfigResponse> {
    return presentMfaConfig(await this.existing(tenant, type));
  }

  async update(tenant: string, type: MfaType, patch: UpdateMfaDto): Promise<MfaConfigResponse> {
    if (patch.type !== undefined && patch.type !== type)
      throw ApiError.validation([{ path: 'type', message: `must be "${type}", the type in the path` }]);
    // null means "remove" for apns and fcm only; anywhere else it would store a broken configuration.
    refuseNulls(patch, ['settings.apns', 'settings.fcm']);
    const current = await this.existing(tenant, type);
    const merged = this.merge(this.sealer.open(current), patch);
    const state = this.sealer.seal(tenant, this.checked(merged));
    return presentMfaConfig(
      this.written(await this.guardConcurrency(() => this.repository.update(current, state))),
    );
  }

  async delete(tenant: string, type: MfaType): Promise<void> {
    const current = await this.existing(tenant, type);
    this.written(await this.guardConcurrency(() => this.repository.delete(current)));
  }

  /** PATCH semantics: given fields replace, omitted ones (secrets included) stay, null removes apns/fcm. */
  private merge(current: MfaConfiguration, patch: UpdateMfaDto): MfaConfiguration {
    const { settings: settingsPatch, ...top } = patch;
    const settings = { ...current.settings };
    if (settingsPatch) {
      const { apns, fcm, ...plain } = settingsPatch;
      Object.assign(settings, withoutUndefined(plain));
      if (apns === null) delete settings.apns;
      else if (apns)
        settings.apns = {
          production: true,
          ...settings.apns,
          ...withoutUndefined(apns),
        } as typeof settings.apns;
      if (fcm === null) delete settings.fcm;
      else if (fcm) settings.fcm = { ...settings.fcm, ...withoutUndefined(fcm) } as typeof settings.fcm;
    }
    return { ...current, ...withoutUndefined(top), settings };
  }

  private checked(config: MfaConfiguration): MfaConfiguration {
    const problems = checkConfigurationRules(config);
    if (problems.length > 0) throw ApiError.validation(problems);
    return config;
  }

  private async existing(tenant: string, type: MfaType): Promise<MfaConfigRecord> {
    const record = await this.repository.findLive(tenant, type);
    if (!record)
      throw new ApiError(
        404,
        'not_found',
        `No ${type} configuration exists for this tenant; create one with POST /mfa.`,
      );
    return record;
  }

  private async guardConcurrency(write: () => Promise<MfaConfigRecord>): Promise<MfaConfigRecord> {
    try {
      return await write();
    } catch (error) {
      if (error instanceof ConcurrentModificationError)
        throw new ApiError(
          409,
          'conflict',
          'The configuration was changed by another request meanwhile; read it again and retry.',
        );
      throw error;
    }
  }

  /** Wakes the relay so the event is on Kafka well under a second after the write. */
  private written(record: MfaConfigRecord): MfaConfigRecord {
    this.relay.wake(record);
    return record;
  }
}

function refuseNulls(body: object, allowed: string[]): void {
  const problems: { path: string; message: string }[] = [];
  const visit = (value: object, prefix: string) => {
    for (const [key, field] of Object.entries(value)) {
      const path = prefix ? `${prefix}.${key}` : key;
      if (field === null && !allowed.includes(path)) problems.push({ path, message: 'must not be null' });
      else if (field && typeof field === 'object' && !Array.isArray(field)) visit(field, path);
    }
  };
  visit(body, '');
  if (problems.length > 0) throw ApiError.validation(problems);
}
