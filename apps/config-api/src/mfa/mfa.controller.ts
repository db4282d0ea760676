import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseEnumPipe,
  Patch,
  Post,
  Query,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { MFA_TYPES, type MfaType } from '@lib/mfa-config';
import { CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/principal';
import { JsonBodyGuard } from '../http/json-body.guard';
import { RequestId } from '../http/request-id';
import { RequireScope } from '../auth/scopes.decorator';
import { ApiError } from '../errors/api-error';
import { ApiErrorResponses, WRITE_UNAVAILABLE } from '../errors/api-error.response';
import { CreateMfaDto } from './dto/create-mfa.dto';
import { ListMfaQuery } from './dto/list-mfa.query';
import { MfaConfigListResponse, MfaConfigResponse } from './dto/mfa-config.response';
import { UpdateMfaDto } from './dto/update-mfa.dto';
import { MfaService } from './mfa.service';
import {
  IfMatch,
  VERSION_TAG_HEADER,
  VersionPrecondition,
  VersionTagInterceptor,
} from './version-precondition';

const mfaType = new ParseEnumPipe(Object.fromEntries(MFA_TYPES.map((type) => [type, type])), {
  exceptionFactory: () =>
    new ApiError(404, 'not_found', `No such MFA type; the types are: ${MFA_TYPES.join(', ')}.`),
});

const IF_MATCH = {
  name: 'If-Match',
  required: false,
  description:
    'The ETag of the configuration the change was made against: applies only if it is still that version (412 otherwise).',
};

/** Served at /mfa and at /api/v1/mfa, where SDKs of this API family look for it. */
@ApiTags('mfa')
@ApiBearerAuth()
@Controller(['mfa', 'api/v1/mfa'])
export class MfaController {
  constructor(private readonly mfa: MfaService) {}

  @Post()
  @RequireScope('write:mfa')
  @UseGuards(JsonBodyGuard)
  @ApiOperation({
    summary: 'Create MFA',
    description: 'Creates the push MFA configuration of the caller’s tenant.',
  })
  @ApiCreatedResponse({
    type: MfaConfigResponse,
    description: 'Created; secrets are masked and fingerprinted.',
    headers: VERSION_TAG_HEADER,
  })
  @UseInterceptors(VersionTagInterceptor)
  @ApiErrorResponses([400, 401, 403, 409, 413, 415, 429, 503], {
    409: 'Exists already: use PATCH /mfa/push.',
    503: WRITE_UNAVAILABLE,
  })
  create(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | undefined,
    @Body() body: CreateMfaDto,
  ) {
    return this.mfa.create({ principal, requestId }, body);
  }

  @Get()
  @RequireScope('read:mfa')
  @ApiOperation({ summary: 'List MFA configurations' })
  @ApiOkResponse({ type: MfaConfigListResponse })
  @ApiErrorResponses([400, 401, 403, 429, 503])
  list(@CurrentPrincipal() principal: Principal, @Query() query: ListMfaQuery) {
    return this.mfa.list(principal.tenant, query.limit, query.offset);
  }

  @Get(':type')
  @RequireScope('read:mfa')
  @ApiParam({ name: 'type', enum: MFA_TYPES })
  @ApiOperation({ summary: 'Get an MFA configuration, with the dispatcher’s latest apply status' })
  @ApiOkResponse({ type: MfaConfigResponse, headers: VERSION_TAG_HEADER })
  @ApiErrorResponses([401, 403, 404, 429, 503])
  @UseInterceptors(VersionTagInterceptor)
  get(@CurrentPrincipal() principal: Principal, @Param('type', mfaType) type: MfaType) {
    return this.mfa.get(principal.tenant, type);
  }

  @Patch(':type')
  @RequireScope('update:mfa')
  @UseGuards(JsonBodyGuard)
  @ApiParam({ name: 'type', enum: MFA_TYPES })
  @ApiOperation({
    summary: 'Update an MFA configuration',
    description: 'Omitted secrets keep their value; null removes apns or fcm.',
  })
  @ApiHeader(IF_MATCH)
  @ApiOkResponse({ type: MfaConfigResponse, headers: VERSION_TAG_HEADER })
  @ApiErrorResponses([400, 401, 403, 404, 412, 413, 415, 429, 503], { 503: WRITE_UNAVAILABLE })
  @UseInterceptors(VersionTagInterceptor)
  update(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | undefined,
    @Param('type', mfaType) type: MfaType,
    @Body() body: UpdateMfaDto,
    @IfMatch() precondition: VersionPrecondition | undefined,
  ) {
    return this.mfa.update({ principal, requestId }, type, body, precondition);
  }

  @Delete(':type')
  @HttpCode(204)
  @RequireScope('delete:mfa')
  @ApiParam({ name: 'type', enum: MFA_TYPES })
  @ApiOperation({ summary: 'Delete an MFA configuration' })
  @ApiHeader(IF_MATCH)
  @ApiNoContentResponse({ description: 'Deleted; the dispatcher stops using it.' })
  @ApiErrorResponses([400, 401, 403, 404, 412, 429, 503], { 503: WRITE_UNAVAILABLE })
  async delete(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | undefined,
    @Param('type', mfaType) type: MfaType,
    @IfMatch() precondition: VersionPrecondition | undefined,
  ): Promise<void> {
    await this.mfa.delete({ principal, requestId }, type, precondition);
  }
}
