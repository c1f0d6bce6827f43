import { AppError } from '../errors.js';
import type { Page, PageRequest } from '../core/paging.js';
import { authorize, type Actor } from '../accounts/roles.js';
import type { UnitOfWork } from '../stores.js';
import type { Device, DeviceListQuery } from './model.js';
import { toPublicDevice } from './store.kysely.js';

/** Devices ▸ Devices: read-only for admins (devices change through their own check-ins). */
export function createDeviceService(deps: { uow: UnitOfWork }) {
  const { uow } = deps;
  return {
    async list(actor: Actor, query: DeviceListQuery, page: PageRequest): Promise<Page<Device>> {
      authorize(actor, 'devices.read');
      return uow.inAccount(actor.accountId, (s) => s.devices.list(query, page));
    },
    async get(actor: Actor, id: string): Promise<Device> {
      authorize(actor, 'devices.read');
      const d = await uow.inAccount(actor.accountId, (s) => s.devices.get(id));
      if (!d || d.status === 'authenticated') throw AppError.notFound('The device');
      return toPublicDevice(d);
    },
  };
}

export type DeviceService = ReturnType<typeof createDeviceService>;
