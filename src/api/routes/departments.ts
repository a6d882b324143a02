import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { Code } from '../schemas.ts';
import { MAX_ANALYSIS_CODES, findDepartment, listDepartments, saveDepartment } from '../../ledger/setup/departments.ts';
import { Name, Text, checkBodyKey, notFound, savedByKey } from './setup-shared.ts';

const Department = z.object({
  id: z.string(),
  name: z.string(),
  analysisCodes: z.array(z.string()).meta({ description: 'Value i is for analysis dimension i + 1.' }),
  isActive: z.boolean(),
});

const IdParams = z.object({ id: Code.meta({ examples: ['NORTH'] }) });

export const listDepartmentsRoute = defineRoute({
  method: 'GET',
  path: '/v1/departments',
  operationId: 'listDepartments',
  summary: 'List departments (BI codes)',
  tags: ['setup'],
  auth: 'entity',
  success: { status: 200, description: 'Every department, active or not, ordered by id.', schema: z.array(Department) },
  handler: async ({ db, entity }) => listDepartments(db, entity.id),
});

export const getDepartmentRoute = defineRoute({
  method: 'GET',
  path: '/v1/departments/{id}',
  operationId: 'getDepartment',
  summary: 'Read a department',
  tags: ['setup'],
  auth: 'entity',
  params: IdParams,
  success: { status: 200, description: 'The department.', schema: Department },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => {
    const department = await findDepartment(db, entity.id, params.id);
    if (!department) throw notFound(`department ${params.id}`);
    return department;
  },
});

export const putDepartmentRoute = defineRoute({
  method: 'PUT',
  path: '/v1/departments/{id}',
  operationId: 'putDepartment',
  summary: 'Create or update a department',
  description:
    'Creates the department (name required) or updates the fields sent. `analysisCodes` holds up to six ' +
    'values, one per analysis dimension, and replaces the whole list when sent. A value for a dimension defined ' +
    'with PUT /v1/analysis-dimensions/{n} must be one of its codes (an empty string: no code).',
  tags: ['setup'],
  auth: 'entity',
  role: 'owner',
  params: IdParams,
  body: z.strictObject({
    id: Code.optional().meta({ description: 'May repeat the id in the path.' }),
    name: Name.optional(),
    analysisCodes: z
      .array(Text(50))
      .max(MAX_ANALYSIS_CODES, `must have at most ${MAX_ANALYSIS_CODES} values`)
      .optional(),
    isActive: z.boolean().optional(),
  }),
  example: { name: 'North region', analysisCodes: ['NORTH', 'RETAIL'] },
  success: { status: 200, description: 'The department as saved (201 when it was created).', schema: Department },
  errors: ['ANALYSIS_CODE_DOES_NOT_EXIST', 'OUTDATED_RECORD'],
  handler: async ({ db, entity, params, body, audit, setStatus }) => {
    checkBodyKey(body.id, params.id, 'id');
    return savedByKey({ audit, setStatus }, { objectType: 'department', objectId: params.id }, () =>
      saveDepartment(db, entity.id, params.id, body),
    );
  },
});

export const departmentRoutes = [listDepartmentsRoute, getDepartmentRoute, putDepartmentRoute];
